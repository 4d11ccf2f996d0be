# lib/: shared code, built into build/librelay.a by the top Makefile.
