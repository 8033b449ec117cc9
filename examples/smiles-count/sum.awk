# Sums one non-negative integer per line; blank lines are skipped. Anything else is refused,
# since a total that silently counted garbage as 0 would look right and be wrong.
NF == 0 { next }
$0 !~ /^[ \t]*[0-9]+[ \t]*$/ {
  printf "smiles-count: line %d is not a count: %s\n", NR, substr($0, 1, 80) > "/dev/stderr"
  bad = 1
  exit 2
}
{ sum += $1; n++ }
END {
  if (!bad) print sum + 0
}
