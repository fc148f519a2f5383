#!/usr/bin/env python3
"""Reads the m4-bench image's output (QEMU's stdout) on stdin, passes every
line through except the MLPerf rows (`@fc|...`) and notes (`@note|...`),
and prints those as one table, with the code each runtime links measured
in the ELF.

Code: the bytes of every function reachable by direct calls and branches
(the static call graph in `arm-none-eabi-objdump -d`) from the runtime's
entry: edgeae's `fc::infer` (one `Engine::reconstruct`, so the whole
engine with every op kind it dispatches, the same code for f32 and int8), CMSIS-NN's
`arm_fully_connected_s8` and/or `arm_fully_connected_per_channel_s8`, as
its row names them. Indirect calls are not followed.

usage: bench_m4_fc.py IMAGE < qemu-output

Exit status 1 if the image printed no MLPerf rows.
"""
import re
import subprocess
import sys

image = sys.argv[1]
# edgeae's entry; CMSIS-NN's are the kernels its row names.
EDGEAE = re.compile(r"8m4_bench2fc5infer")


def call_graph():
    """Function name -> (size in bytes, names it branches to)."""
    sizes = {}
    for line in subprocess.run(["arm-none-eabi-nm", "-S", image], capture_output=True,
                               text=True, check=True).stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwW":
            sizes[parts[3]] = int(parts[1], 16)
    edges = {}
    current = None
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", "--no-show-raw-insn", image],
                         capture_output=True, text=True, check=True).stdout
    for line in dis.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if m:
            current = m.group(1)
            edges.setdefault(current, set())
            continue
        m = re.search(r"\tb[a-z.]*\s+[0-9a-f]+ <([^>+]+)>", line)
        if m and current and m.group(1) != current:
            edges[current].add(m.group(1))
    return sizes, edges


def reach(is_root, sizes, edges):
    todo = [f for f in edges if is_root(f)]
    if not todo:
        return None
    seen = set()
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        todo.extend(edges.get(f, ()))
    return sum(sizes.get(f, 0) for f in seen)


rows, notes = [], []
for line in sys.stdin:
    if line.startswith("@fc|"):
        rows.append(line.rstrip("\n").split("|")[1:])
    elif line.startswith("@note|"):
        notes.append(line.rstrip("\n").split("|", 1)[1])
    else:
        sys.stdout.write(line)
sys.stdout.flush()
if not rows:
    print("bench_m4_fc.py: the image printed no MLPerf rows", file=sys.stderr)
    sys.exit(1)
sizes, edges = call_graph()
print()
print("MLPerf Tiny anomaly detection, dense 640-128-128-128-128-8-128-128-128-128-640 "
      "(ReLU hidden layers), one inference; instructions: median and range of 3 rounds, "
      "each running the three in turn")
print()
print("| runtime | instructions | range | per MAC | vs CMSIS-NN | flash | of which weights etc. | "
      "of which code | RAM |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
cmsis = next((int(r[1]) for r in rows if r[0].startswith("CMSIS")), None)
for name, instr, low, high, macs, data, ram in rows:
    if name.startswith("edgeae"):
        is_root = EDGEAE.search
    else:
        is_root = set(re.findall(r"arm_\w+", name)).__contains__
    code = reach(is_root, sizes, edges)
    instr, macs, data, ram = int(instr), int(macs), int(data), int(ram)
    ratio = f"{instr / cmsis:.2f}" if cmsis else "-"
    flash = f"{data + code:,} B" if code is not None else "?"
    code = f"{code:,} B" if code is not None else "?"
    span = f"{int(low):,}-{int(high):,}"
    print(f"| {name} | {instr:,} | {span} | {instr / macs:.2f} | {ratio} | {flash} | {data:,} B | "
          f"{code} | {ram:,} B |")
print()
print(f"MACs: {int(rows[0][4]):,}. flash = weights etc. + code. edgeae's weights etc.: the whole "
      ".eam file `edgeae export` wrote (weights, biases, exponents, quantization, "
      "calibration); CMSIS-NN's: int8 weights, an int32 bias per output row, and an int32 "
      "multiplier and shift per row (per layer where the per-tensor kernel runs). Code: bytes of the functions reachable by direct calls from the "
      "runtime's entry in this ELF (edgeae: Engine::reconstruct with every op kind it "
      "dispatches; CMSIS-NN: the kernels its row names). RAM: edgeae's engine "
      "scratch (Engine::scratch_len, f32 input window included); CMSIS-NN's two int8 "
      "ping-pong activation buffers of the widest layer (it asks for no other buffer on "
      "the M4).")
dense = [sizes[f] for f in sizes if re.search(r"8firmware3ops4int83run$", f)]
if dense:
    print(f"Of edgeae's engine code, the int8 dense kernel (firmware::ops::int8::run) is "
          f"{dense[0]:,} B; the rest is every other op kind the engine links (convolutions, "
          "recurrent layers) and the f32 kernels inlined into the entry.")
for n in notes:
    print(n)
