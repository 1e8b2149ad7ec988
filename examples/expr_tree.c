/*
 * expr_tree.c - a parser that builds its syntax tree in a zone and drops the
 * whole tree with one destroy_zone.
 *
 * Each expression gets its own growable zone. The recursive-descent parser
 * allocates a node per number and operator and never frees one: not after
 * evaluation, and not on a syntax error halfway through, where a malloc-based
 * parser would need careful cleanup of the partial tree. destroy_zone takes
 * every node with it. The zone starts at 256 bytes and ZONE_GROW lets a long
 * expression take more.
 *
 * Usage: expr_tree [EXPRESSION...]; without arguments it runs a built-in set
 * and checks every result (ctest runs it that way).
 */
#include <zone.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node {
  char op;  /* '+', '-', '*', '/', 'n' for a number, '~' for negation */
  double value;
  struct node *left, *right;
};

struct parser {
  zone_t *zone;
  const char *at;
  const char *error;  /* the first error, NULL while all is well */
  size_t error_at;    /* its offset in the text */
  size_t nodes;
  const char *text;
};

/* Records the first error; parsing goes on, harmlessly, to the end. */
static void fail(struct parser *p, const char *why) {
  if (p->error == NULL) {
    p->error = why;
    p->error_at = (size_t)(p->at - p->text);
  }
}

static struct node *node_new(struct parser *p, char op, struct node *left, struct node *right) {
  struct node *n = zalloc(p->zone, sizeof *n);
  if (n == NULL) {
    fail(p, "out of memory");
    return NULL;
  }
  *n = (struct node){.op = op, .left = left, .right = right};
  p->nodes++;
  return n;
}

static void skip_space(struct parser *p) {
  while (isspace((unsigned char)*p->at))
    p->at++;
}

static struct node *parse_sum(struct parser *p);

/* factor := number | '(' sum ')' | '-' factor */
static struct node *parse_factor(struct parser *p) {
  skip_space(p);
  if (*p->at == '(') {
    p->at++;
    struct node *inner = parse_sum(p);
    skip_space(p);
    if (*p->at != ')') {
      fail(p, "missing ')'");
      return NULL;
    }
    p->at++;
    return inner;
  }
  if (*p->at == '-') {
    p->at++;
    return node_new(p, '~', parse_factor(p), NULL);
  }
  char *end;
  double value = strtod(p->at, &end);
  if (end == p->at) {
    fail(p, "expected a number");
    return NULL;
  }
  p->at = end;
  struct node *n = node_new(p, 'n', NULL, NULL);
  if (n != NULL)
    n->value = value;
  return n;
}

/* product := factor (('*' | '/') factor)* */
static struct node *parse_product(struct parser *p) {
  struct node *left = parse_factor(p);
  for (;;) {
    skip_space(p);
    char op = *p->at;
    if (op != '*' && op != '/')
      return left;
    p->at++;
    left = node_new(p, op, left, parse_factor(p));
  }
}

/* sum := product (('+' | '-') product)* */
static struct node *parse_sum(struct parser *p) {
  struct node *left = parse_product(p);
  for (;;) {
    skip_space(p);
    char op = *p->at;
    if (op != '+' && op != '-')
      return left;
    p->at++;
    left = node_new(p, op, left, parse_product(p));
  }
}

static double eval(const struct node *n) {
  switch (n->op) {
  case 'n': return n->value;
  case '~': return -eval(n->left);
  case '+': return eval(n->left) + eval(n->right);
  case '-': return eval(n->left) - eval(n->right);
  case '*': return eval(n->left) * eval(n->right);
  default: return eval(n->left) / eval(n->right);
  }
}

/* Prints the tree in prefix form, the shape the parser gave it. */
static void print_tree(const struct node *n, int depth) {
  if (depth > 6) {
    fputs("...", stdout);
    return;
  }
  if (n->op == 'n')
    printf("%g", n->value);
  else if (n->op == '~') {
    fputs("(neg ", stdout);
    print_tree(n->left, depth + 1);
    putchar(')');
  } else {
    printf("(%c ", n->op);
    print_tree(n->left, depth + 1);
    putchar(' ');
    print_tree(n->right, depth + 1);
    putchar(')');
  }
}

/* Parses and evaluates one expression in a zone of its own. Returns 0 and
 * the value, or -1 after printing the error. */
static int run(const char *text, double *value) {
  zone_t *zone = create_zone_flags(256, ZONE_GROW | ZONE_UNLOCKED);
  if (zone == NULL) {
    perror("create_zone_flags");
    return -1;
  }
  struct parser p = {.zone = zone, .at = text, .text = text};
  struct node *root = parse_sum(&p);
  skip_space(&p);
  if (*p.at != '\0')
    fail(&p, "unexpected text");

  zone_stats_t st;
  zone_stats(zone, &st);
  int rc = 0;
  if (p.error != NULL) {
    printf("%.60s\n  error at offset %zu: %s (%zu nodes dropped with the zone)\n", text,
           p.error_at, p.error, p.nodes);
    rc = -1;
  } else {
    *value = eval(root);
    printf("%.60s%s\n  = %g, tree ", text, strlen(text) > 60 ? "..." : "", *value);
    print_tree(root, 0);
    printf("\n  %zu nodes, %zu bytes in a zone of %zu\n", p.nodes, st.used, st.size);
  }
  /* The whole tree, complete or not, goes in one call. */
  destroy_zone(zone);
  return rc;
}

int main(int argc, char **argv) {
  if (argc > 1) {
    int failed = 0;
    for (int i = 1; i < argc; i++) {
      double value;
      failed |= run(argv[i], &value) != 0;
    }
    return failed;
  }

  static const struct {
    const char *text;
    double value;  /* NAN: a syntax error is expected */
  } cases[] = {
      {"1 + 2 * 3", 7},
      {"(1 + 2) * 3 - 4 / 2", 7},
      {"2 * (3 + 4) * (5 - 1)", 56},
      {"-(7 - 10) * 2.5", 7.5},
      {"1 + (2 * 3", NAN},
      {"4 / * 2", NAN},
  };
  int failed = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    double value = NAN;
    int rc = run(cases[i].text, &value);
    bool want_error = isnan(cases[i].value);
    if (want_error ? rc == 0 : rc != 0 || value != cases[i].value) {
      fprintf(stderr, "expr_tree: wrong result for %s\n", cases[i].text);
      failed = 1;
    }
  }

  /* 1 + 2 + ... + 300: 599 nodes, far past the first 256 bytes, so the zone
   * grows (by new extents) while the parser allocates. */
  char big[2048];
  size_t len = 0;
  for (int k = 1; k <= 300; k++)
    len += (size_t)snprintf(big + len, sizeof big - len, k == 1 ? "%d" : "+%d", k);
  double sum = 0;
  if (run(big, &sum) != 0 || sum != 45150) {
    fprintf(stderr, "expr_tree: the long sum came out %g\n", sum);
    failed = 1;
  }
  return failed;
}
