# Sourced by integration/engine.sh and integration/engine-next.sh (not run
# on its own): finds the machine's own Debian archive entry so that extra
# suites (trixie, sid) come from the same mirror with the same keyring.

# Prints "URI KEYRING" for the machine's own Debian main-archive entry (the
# one whose suites include bookworm; not -security), read from deb822
# .sources files or one-line .list files, so the trixie entry uses the same
# mirror and keyring as the machine, behind whatever mirror it is set up with.
debian_archive_source() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '
      function flush() {
        if (uris != "" && suites ~ /(^| )bookworm( |$)/) {
          split(uris, u, " "); print u[1], (key == "" ? "-" : key); done = 1; exit
        }
        uris = ""; suites = ""; key = ""
      }
      /^[[:space:]]*$/ { flush(); next }
      /^URIs:/      { sub(/^URIs:[[:space:]]*/, ""); uris = $0 }
      /^Suites:/    { sub(/^Suites:[[:space:]]*/, ""); suites = $0 }
      /^Signed-By:/ { sub(/^Signed-By:[[:space:]]*/, ""); key = $0 }
      END { if (!done) flush() }
    ' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    # deb [signed-by=KEY ...] URI bookworm main ...
    awk '$1 == "deb" {
      key = "-"; i = 2
      if ($2 ~ /^\[/) {
        while (i <= NF && $i !~ /\]$/) { if ($i ~ /signed-by=/) { key = $i; sub(/.*signed-by=/, "", key) }; i++ }
        if ($i ~ /signed-by=/) { key = $i; sub(/.*signed-by=/, "", key) }
        sub(/\]$/, "", key); i++
      }
      if ($(i + 1) == "bookworm") print $i, key
    }' "$f"
  done
}
