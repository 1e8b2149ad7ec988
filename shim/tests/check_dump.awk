# check_dump.awk - validates a file of zdumps (the shared zdump format): every
# dump starts with its `zone` header (the shim adds pid= and prog=, and arena=
# when the process has more than one); its lines are in ascending address order
# and never overlap; their sizes add up to size, the used ones to used and
# blocks, the free ones to free and free_regions, the largest to largest_free.
# Prints "N dumps" and exits 0, or names the first broken rule and exits 1.
function fail(msg) { printf "line %d: %s\n", NR, msg; bad = 1; exit 1 }
function finish() {
  if (!open) return
  if (sum != h["size"]) fail("sizes add up to " sum ", header says size=" h["size"])
  if (usum != h["used"]) fail("used sizes add up to " usum ", header says used=" h["used"])
  if (nused != h["blocks"]) fail(nused " used lines, header says blocks=" h["blocks"])
  if (fsum != h["free"]) fail("free sizes add up to " fsum ", header says free=" h["free"])
  if (nfree != h["free_regions"]) fail(nfree " free lines, header says free_regions=" h["free_regions"])
  if (big != h["largest_free"]) fail("largest free line " big ", header says largest_free=" h["largest_free"])
  if (h["peak_used"] < h["used"]) fail("peak_used below used")
  dumps++
}
function hex(s,   v, i, c) {
  v = 0
  s = tolower(substr(s, 3))
  for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)) - 1; v = v * 16 + c }
  return v
}
/^zone / {
  finish()
  if ($0 !~ /^zone size=[0-9]+ used=[0-9]+ free=[0-9]+ largest_free=[0-9]+ blocks=[0-9]+ free_regions=[0-9]+ peak_used=[0-9]+ extents=[0-9]+( pid=[0-9]+ prog=[^ ]+( arena=[0-9]+)?)?$/)
    fail("bad header: " $0)
  delete h
  for (i = 2; i <= NF; i++) { split($i, kv, "="); h[kv[1]] = kv[2] + 0 }
  open = 1; sum = usum = fsum = nused = nfree = big = 0; last_end = -1
  next
}
{
  if (!open) fail("a line before any header")
  if ($0 !~ /^0x[0-9a-f]+ [0-9]+ (used|free)$/) fail("bad line: " $0)
  a = hex($1); n = $2 + 0
  if (n == 0 || n % 16 != 0) fail("size " n " is not a positive multiple of 16")
  if (a < last_end) fail("address " $1 " is below the end of the previous line")
  last_end = a + n
  sum += n
  if ($3 == "used") { usum += n; nused++ } else { fsum += n; nfree++; if (n > big) big = n }
}
END {
  if (bad) exit 1
  finish()
  if (dumps == 0) { print "no dump"; exit 1 }
  print dumps " dumps"
}
