# perl: hashes, sorting, regexes, string building, a digest of it all.
set -e
perl -MDigest::MD5=md5_hex -e '
  my %h; my @a;
  for my $i (1 .. 200000) { $h{"k$i"} = [$i, "v" x ($i % 9)]; push @a, $i * 7919 % 100003; }
  delete $h{"k$_"} for grep { $_ % 3 == 0 } 1 .. 200000;
  my @s = sort { $a <=> $b } @a;
  my $text = join ",", map { sprintf "%05d", $_ } @s[0 .. 20000];
  my @words = ($text =~ /(\d{3})/g);
  my %count; $count{$_}++ for @words;
  my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 4];
  print scalar(keys %h), " ", md5_hex($text), " @top\n";
  my $big = ""; $big .= chr(65 + $_ % 26) x ($_ % 50) for 1 .. 50000;
  print length($big), " ", md5_hex($big), "\n";
'
