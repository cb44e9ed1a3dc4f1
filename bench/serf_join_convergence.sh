#!/bin/bash
# 8 real serf agents (lan profile) joined in the pattern of integration/wan_serf_interop_test.cpp's
# MixedPoolOfEightConverges; prints the seconds until every agent lists all 8 alive (or that
# it did not within 45 s). Loopback only; every agent is stopped by PID (and by timeout 120).
# Usage: bench/serf_join_convergence.sh BASE_PORT   (uses BASE_PORT..BASE_PORT+107)
#   for r in $(seq 1 30); do bench/serf_join_convergence.sh $((21000 + (r % 5) * 200)); done
base=$1
pids=()
for i in $(seq 0 7); do
  timeout 120 serf agent -node=n$i -bind=127.0.0.1:$((base+i)) -rpc-addr=127.0.0.1:$((base+100+i)) -profile=lan -tag role=consul >/dev/null 2>&1 &
  pids+=($!)
done
for i in $(seq 0 7); do
  for t in $(seq 1 50); do timeout 3 serf members -rpc-addr=127.0.0.1:$((base+100+i)) >/dev/null 2>&1 && break; sleep 0.1; done
done
start=$(date +%s.%N)
# sx_i (4..7) joins m_i (0..3); sx0 joins sx1 sx2 sx3
for i in 0 1 2 3; do timeout 10 serf join -rpc-addr=127.0.0.1:$((base+104+i)) 127.0.0.1:$((base+i)) >/dev/null; done
timeout 10 serf join -rpc-addr=127.0.0.1:$((base+104)) 127.0.0.1:$((base+5)) 127.0.0.1:$((base+6)) 127.0.0.1:$((base+7)) >/dev/null
while :; do
  ok=1
  for i in $(seq 0 7); do
    n=$(timeout 5 serf members -rpc-addr=127.0.0.1:$((base+100+i)) -status=alive 2>/dev/null | wc -l)
    [ "$n" -eq 8 ] || { ok=0; break; }
  done
  now=$(date +%s.%N)
  elapsed=$(awk -v a="$start" -v b="$now" 'BEGIN { printf "%.3f", b - a }')
  if [ $ok -eq 1 ]; then echo "converged $elapsed"; break; fi
  if awk -v e="$elapsed" 'BEGIN { exit !(e > 45) }'; then echo "NOT converged in 45s"; break; fi
  sleep 0.1
done
kill ${pids[@]} 2>/dev/null; wait 2>/dev/null
