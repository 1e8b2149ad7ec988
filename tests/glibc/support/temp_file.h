/*
 * temp_file.h - temporary files that disappear when the test ends: each is
 * removed at exit by the process that created or registered it (not by the
 * processes it forks).
 */
#ifndef ZONE_GLIBC_SUPPORT_TEMP_FILE_H
#define ZONE_GLIBC_SUPPORT_TEMP_FILE_H

#ifdef __cplusplus
extern "C" {
#endif

/* Creates and opens (read-write) a new file named after base in $TMPDIR (or
 * /tmp). Its file descriptor, or -1 with errno set; if filename is not NULL,
 * *filename gets the path in storage from malloc. */
int create_temp_file(const char *base, char **filename);
/* Removes path at exit too. */
void add_temp_file(const char *path);

#ifdef __cplusplus
}
#endif

#endif
