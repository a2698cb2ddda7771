#!/usr/bin/env bash
# Runs Docker's check-config.sh on a kernel .config and summarises it by section.
# Exit 1 if anything outside "Storage Drivers" is missing.
set -euo pipefail
cfg=$1
# Linux 6.1 removed CONFIG_MEMCG_SWAP: swap accounting is part of MEMCG when
# SWAP is on. Debian 12's check-config.sh predates that (moby fixed it upstream
# by checking the option only below 6.1), so count it as enabled in that case.
memcg_swap=0
grep -qx CONFIG_MEMCG=y "$cfg" && grep -qx CONFIG_SWAP=y "$cfg" && memcg_swap=1
raw=$(bash /usr/share/docker.io/contrib/check-config.sh "$cfg" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' || true)
printf '%s\n' "$raw" > "${2:-/dev/null}"
printf '%s\n' "$raw" | awk -v memcg_swap="$memcg_swap" '
  /^Generally Necessary:/ { sec = "required"; next }
  /^Optional Features:/   { sec = "optional"; next }
  /^- Network Drivers:/   { sec = "network"; next }
  /^- Storage Drivers:/   { sec = "storage"; next }
  /^Limits:/              { sec = "limits"; next }
  /CONFIG_[A-Z0-9_]+: / {
    match($0, /CONFIG_[A-Z0-9_]+/); opt = substr($0, RSTART, RLENGTH)
    if ($0 ~ /: enabled/ || (opt == "CONFIG_MEMCG_SWAP" && memcg_swap)) ok[sec]++; else { miss[sec]++; list[sec] = list[sec] " " opt }
    seen[sec] = 1
  }
  END {
    split("required optional network storage", order, " ")
    for (i = 1; i <= 4; i++) { s = order[i]
      printf "check-config %-9s %3d enabled, %2d missing%s\n", s, ok[s], miss[s], (miss[s] ? ":" list[s] : "")
      if (s != "storage" && miss[s]) fail = 1 }
    exit fail
  }'
