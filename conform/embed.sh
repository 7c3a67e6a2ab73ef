#!/bin/sh
# embed.sh NAME IN OUT: writes OUT, a C file that defines `const char NAME[]`
# holding the text of IN (echolab-conform's HTML report carries
# docs/protocol.md, so that its section links work offline).
set -eu
{
	echo "/* Generated from $2 by conform/embed.sh. */"
	echo "extern const char $1[];"
	echo "const char $1[] ="
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$/\\n"/' "$2"
	echo ";"
} >"$3"
