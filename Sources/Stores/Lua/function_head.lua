#!lua name=%LIBRARY%
-- The Functions library: every script's helpers (lib.lua and the layers) defined once, when the
-- library is loaded, instead of on every call. KEYS and ARGV are this chunk's, set by bind.
local KEYS, ARGV
