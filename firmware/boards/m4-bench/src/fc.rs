//! The MLPerf Tiny anomaly-detection autoencoder (dense 640-128-128-128-
//! 128-8-128-128-128-128-640, ReLU hidden layers) three ways: edgeae's
//! whole `Engine` on the f32 and on the int8 model file that `edgeae export`
//! wrote (scripts/bench-m4 loads them into the MODEL region, int8 at
//! [`INT8_AT`], f32 at [`F32_AT`]), and CMSIS-NN's fully connected kernels
//! layer after layer on the int8 file's own weights, biases and
//! multipliers.
//!
//! edgeae's row `o` has the multiplier `requant.multiplier ·
//! 2^(requant.shift − e[o] − 31)` (SPEC.md 3.3), which is CMSIS-NN's
//! per-channel `(mult, shift)` = `(requant.multiplier, requant.shift −
//! e[o])`: `arm_fully_connected_per_channel_s8` can run any layer. Where
//! every row exponent of a layer is equal, one multiplier serves the layer
//! and the per-tensor `arm_fully_connected_s8` (faster; what TFLite Micro
//! runs for a per-tensor layer) computes the same; the table's CMSIS-NN row
//! uses it there, and a note gives the per-channel count. With
//! `CMSIS_NN_USE_SINGLE_ROUNDING` (build.rs) the arithmetic is the same, so
//! the outputs must be equal byte for byte: each layer's
//! (`firmware::ops::int8::run` beside both kernels on the same int8 input),
//! and the int8 engine's whole output beside the dequantized output of
//! either CMSIS-NN chain.
//!
//! The image prints one `@fc|runtime|median|min|max|MACs|model bytes|RAM
//! bytes` line per runtime (instructions over three rounds, each running
//! f32, int8, CMSIS-NN in turn); scripts/bench-m4 adds code sizes
//! from the ELF and prints the table.

use cortex_m_semihosting::hprintln;
use firmware::ops::int8;
use firmware::ops::math::tanh;
use firmware::serve::Clock;
use firmware::{Engine, Model};
use model_format::{DenseI8Op, Op, WeightLayout};

use crate::case::Rng;
use crate::{PAIRS, cmsis, hw, median};

/// Offset of the int8 model file in the MODEL region (0x0010_0000).
const INT8_AT: usize = 0;
/// Offset of the f32 model file in the MODEL region (0x0020_0000).
const F32_AT: usize = 0x10_0000;

/// Layers, output rows over all layers, and the widest layer, this image
/// can hold.
const LAYERS: usize = 64;
const CHANNELS: usize = 4096;
/// Bytes of weights put back in row order (a file with interleaved rows).
const ROWS_BYTES: usize = 384 * 1024;
const WIDTH: usize = 1024;
/// f32 slots of scratch per engine (64 KiB).
const SCRATCH: usize = 16 * 1024;

/// CMSIS-NN's view of the int8 model: its dense layers and, per output row
/// in layer order, the bias, multiplier and shift.
struct Chain<'m> {
    ops: &'m [Op<'m>],
    /// Per layer, its `outputs × inputs` weights in row order: the file's
    /// own bytes, or a copy put in that order (see [`dense`]).
    weights: [&'m [i8]; LAYERS],
    bias: [i32; CHANNELS],
    mult: [i32; CHANNELS],
    shift: [i32; CHANNELS],
    /// Per layer: every row has the same multiplier and shift (every row
    /// exponent equal), so the per-tensor kernel computes the same.
    uniform: [bool; LAYERS],
}

/// The int8 dense layer CMSIS-NN can run the same way, or why not.
fn dense(op: &Op<'_>) -> Result<(), &'static str> {
    match op {
        Op::DenseI8(d) if d.layout == WeightLayout::InputsByOutputs => {
            Err("a tied layer (weights read transposed)")
        }
        Op::DenseI8(d) if !d.table.is_empty() => {
            Err("a table activation (CMSIS-NN's fully connected has only a clamp)")
        }
        Op::DenseI8(d) if d.inputs > WIDTH || d.outputs > WIDTH => Err("a layer wider than 1024"),
        Op::DenseI8(_) => Ok(()),
        _ => Err("a layer that is not int8 dense"),
    }
}

/// Layer `d`'s weights in row order (`outputs × inputs`): the file's bytes
/// for `WeightLayout::OutputsByInputs`; for format version 8's four-row
/// interleaving (SPEC.md 3.3, the one other layout of an untied layer:
/// `w[o, i]` at byte `((o / 4)·B + i / 4)·16 + (o % 4)·4 + i % 4`, `B =
/// ceil(inputs / 4)`) copied into the front of `rows`, which the rest is
/// given back of. Compared with `==`, not matched, so that this compiles
/// with and without that layout.
fn row_order<'m>(
    d: &DenseI8Op<'m>,
    rows: &'m mut [i8],
) -> Result<(&'m [i8], &'m mut [i8]), &'static str> {
    let file: &'m [i8] = bytemuck::cast_slice(d.weights.as_bytes());
    if d.layout == WeightLayout::OutputsByInputs {
        return Ok((file, rows));
    }
    let (n, m) = (d.inputs, d.outputs);
    let Some((dst, rest)) = rows.split_at_mut_checked(n * m) else {
        return Err("interleaved weights over the image's 384 KiB copy");
    };
    let units = n.div_ceil(4);
    for (o, row) in dst.chunks_exact_mut(n.max(1)).enumerate() {
        for (i, w) in row.iter_mut().enumerate() {
            let at = ((o / 4) * units + i / 4) * 16 + (o % 4) * 4 + i % 4;
            *w = file
                .get(at)
                .copied()
                .ok_or("interleaved weights shorter than their shape")?;
        }
    }
    Ok((dst, rest))
}

impl<'m> Chain<'m> {
    fn new(model: &'m Model<'m>, mut rows: &'m mut [i8]) -> Result<Chain<'m>, &'static str> {
        let mut chain = Chain {
            ops: model.ops(),
            weights: [&[]; LAYERS],
            bias: [0; CHANNELS],
            mult: [0; CHANNELS],
            shift: [0; CHANNELS],
            uniform: [false; LAYERS],
        };
        if model.ops().len() > LAYERS {
            return Err("more than 64 layers");
        }
        let mut row = 0;
        for (l, op) in model.ops().iter().enumerate() {
            dense(op)?;
            let Op::DenseI8(d) = op else { continue };
            if row + d.outputs > CHANNELS {
                return Err("more than 4096 output rows");
            }
            let (weights, rest) = row_order(d, rows)?;
            chain.weights[l] = weights;
            rows = rest;
            let e0 = d.exponents.get(0);
            chain.uniform[l] = (0..d.outputs).all(|o| d.exponents.get(o) == e0);
            for (o, b) in d.bias.iter().enumerate() {
                chain.bias[row + o] = b;
                chain.mult[row + o] = d.requant.multiplier;
                chain.shift[row + o] = i32::from(d.requant.shift) - i32::from(d.exponents.get(o));
            }
            row += d.outputs;
        }
        Ok(chain)
    }

    /// Layer `l`, `d` (whose rows start at `row`), on `x` into `y`; per
    /// tensor (first row's multiplier for all) if `per_tensor`.
    fn layer(
        &mut self,
        l: usize,
        d: &DenseI8Op<'_>,
        row: usize,
        per_tensor: bool,
        x: &[i8],
        y: &mut [i8],
    ) -> Result<(), cmsis::Refused> {
        let rows = row..row + d.outputs;
        let mut q = cmsis::Requant {
            mult: &mut self.mult[rows.clone()],
            shift: &mut self.shift[rows.clone()],
            input_offset: -i32::from(d.input.zero_point),
            output_offset: i32::from(d.target_zero_point),
            act: (i32::from(d.clamp_min), 127),
        };
        cmsis::fully_connected(
            &x[..d.inputs],
            self.weights[l],
            &self.bias[rows],
            &mut q,
            per_tensor,
            &mut y[..d.outputs],
        )
    }

    /// The whole chain on the int8 input in `a`, ping-ponging between `a`
    /// and `b`; gives the buffer holding the output. Each layer whose rows
    /// share one multiplier runs `arm_fully_connected_s8` (as TFLite Micro
    /// would for a per-tensor layer) unless `per_channel`; the others
    /// `arm_fully_connected_per_channel_s8`.
    #[inline(never)]
    fn run<'b>(
        &mut self,
        per_channel: bool,
        a: &'b mut [i8; WIDTH],
        b: &'b mut [i8; WIDTH],
    ) -> Result<&'b [i8], cmsis::Refused> {
        let (mut src, mut dst) = (a, b);
        let mut row = 0;
        for (l, op) in self.ops.iter().enumerate() {
            let Op::DenseI8(d) = op else { continue };
            let per_tensor = !per_channel && self.uniform[l];
            self.layer(l, d, row, per_tensor, &src[..], &mut dst[..])?;
            row += d.outputs;
            core::mem::swap(&mut src, &mut dst);
        }
        Ok(&src[..])
    }
}

/// edgeae's whole engine, one inference, f32 or int8 model alike (kept
/// out of line so that scripts/bench_m4_fc.py can measure the code
/// reachable from it in the ELF).
#[inline(never)]
fn infer(engine: &mut Engine<'_, '_>) -> f32 {
    engine.reconstruct().1.first().copied().unwrap_or(0.0)
}

fn load(region: &'static [u8], at: usize, what: &str) -> Option<(Model<'static>, usize)> {
    match Model::load_prefix(region.get(at..).unwrap_or(&[])) {
        Ok(loaded) => Some(loaded),
        Err(e) => {
            hprintln!(
                "MLPerf {} model (expected at 0x{:08x}): {}",
                what,
                0x0010_0000 + at,
                e
            );
            None
        }
    }
}

/// Runs the comparison; true if anything failed or differed.
pub fn bench(clock: &mut hw::InstructionClock) -> bool {
    hprintln!();
    let region = hw::model_region();
    // QEMU's code memory reads 0 where nothing was loaded: `cargo run`
    // without scripts/bench-m4's model files skips this table (and the
    // script fails when it is missing).
    if region.iter().take(16).all(|&b| b == 0) {
        hprintln!("MLPerf: no model files loaded (scripts/bench-m4 loads them), skipped");
        return false;
    }
    let (Some((m8, len8)), Some((m32, len32))) =
        (load(region, INT8_AT, "int8"), load(region, F32_AT, "f32"))
    else {
        return true;
    };
    let n = m8.input_len();
    let macs = m8.macs();
    if m32.input_len() != n || m32.macs() != macs || n > WIDTH {
        hprintln!("MLPerf: the f32 and int8 models differ in shape");
        return true;
    }
    let mut rows = [0i8; ROWS_BYTES];
    let mut chain = match Chain::new(&m8, &mut rows) {
        Ok(c) => c,
        Err(why) => {
            hprintln!("MLPerf int8 model: CMSIS-NN cannot run {}", why);
            return true;
        }
    };
    // A window in the range of the calibration data (a smooth curve plus
    // noise, about ±1.2).
    let mut rng = Rng::new(0x4d4c_5046);
    let mut window = [0f32; WIDTH];
    for (k, v) in window[..n].iter_mut().enumerate() {
        let noise = (rng.next() % 2001) as f32 / 1000.0 - 1.0;
        *v = tanh(((k % 23) as f32 - 11.0) / 6.0) * 0.8 + 0.4 * noise;
    }
    let window = &window[..n];
    let Some(Op::DenseI8(first)) = m8.ops().first() else {
        return true;
    };
    let mut x0 = [0i8; WIDTH];
    int8::quantize_into(window, &first.input, &mut x0[..n]);

    let mut failed = layer_by_layer(&mut chain, &x0);

    let mut s8 = [0f32; SCRATCH];
    let mut s32 = [0f32; SCRATCH];
    let ram8 = Engine::scratch_len(&m8) * 4;
    let ram32 = Engine::scratch_len(&m32) * 4;
    let (mut e8, mut e32) = match (Engine::new(&m8, &mut s8), Engine::new(&m32, &mut s32)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            hprintln!(
                "MLPerf: scratch of {} f32 needed, {} here",
                e.needed,
                e.given
            );
            return true;
        }
    };
    e8.input_mut().copy_from_slice(window);
    e32.input_mut().copy_from_slice(window);
    let (mut a, mut b) = ([0i8; WIDTH], [0i8; WIDTH]);
    // Per round: f32 engine, int8 engine, CMSIS-NN (per tensor where the
    // layer allows), then (for the notes) CMSIS-NN per channel on every
    // layer and the int8 engine's f32 edges.
    let mut t = [[0u32; PAIRS]; 5];
    let mut out = [[0i8; WIDTH]; 2];
    let (mut xq, mut yq) = ([0i8; WIDTH], [0f32; WIDTH]);
    for k in 0..PAIRS {
        a[..n].copy_from_slice(&x0[..n]);
        let t0 = clock.now();
        core::hint::black_box(infer(&mut e32));
        let t1 = clock.now();
        core::hint::black_box(infer(&mut e8));
        let t2 = clock.now();
        let best = chain
            .run(false, &mut a, &mut b)
            .map(|y| out[0][..y.len()].copy_from_slice(y));
        let t3 = clock.now();
        a[..n].copy_from_slice(&x0[..n]);
        let t4 = clock.now();
        let per_channel = chain
            .run(true, &mut a, &mut b)
            .map(|y| out[1][..y.len()].copy_from_slice(y));
        let t5 = clock.now();
        edges(window, &m8, &mut xq, &mut yq);
        let t6 = clock.now();
        if let Err(e) = best.and(per_channel) {
            hprintln!("MLPerf: CMSIS-NN: {:?}", e);
            return true;
        }
        for (row, (start, end)) in
            t.iter_mut()
                .zip([(t0, t1), (t1, t2), (t2, t3), (t4, t5), (t5, t6)])
        {
            row[k] = end.wrapping_sub(start);
        }
    }
    let [t32, t8, tc, tpc, tedge] = t;
    let layers = m8.ops().len();
    let uniform = chain.uniform[..layers].iter().filter(|&&u| u).count();
    let kernel = if uniform == layers {
        "arm_fully_connected_s8"
    } else if uniform == 0 {
        "arm_fully_connected_per_channel_s8"
    } else {
        "arm_fully_connected_s8 + arm_fully_connected_per_channel_s8"
    };
    failed |= !whole_output(&e8, &m8, &out[0], kernel);
    failed |= !whole_output(&e8, &m8, &out[1], "per channel on every layer");
    hprintln!(
        "@fc|edgeae f32 (Engine)|{}|{}|{}|{}",
        Spread(t32),
        macs,
        len32,
        ram32
    );
    hprintln!(
        "@fc|edgeae int8 (Engine)|{}|{}|{}|{}",
        Spread(t8),
        macs,
        len8,
        ram8
    );
    hprintln!(
        "@fc|CMSIS-NN int8 ({})|{}|{}|{}|{}",
        kernel,
        Spread(tc),
        macs,
        cmsis_bytes(&chain),
        2 * WIDTH.min(widest(&m8))
    );
    hprintln!(
        "@note|CMSIS-NN's kernel: {} of the {} layers have one multiplier for all rows (every row exponent equal), and arm_fully_connected_s8 runs those, arm_fully_connected_per_channel_s8 the others; per channel on every layer (what any edgeae int8 file allows) takes {} instructions (median), its outputs equal as well",
        uniform,
        layers,
        median(tpc)
    );
    hprintln!(
        "@note|edgeae int8 counts f32 in and out: quantizing the {} inputs and dequantizing the {} outputs alone take {} instructions (median)",
        n,
        m8.ops().last().map_or(0, Op::outputs),
        median(tedge)
    );
    failed
}

/// One runtime's instruction counts over the rounds, formatted as
/// `median|min|max`.
struct Spread([u32; PAIRS]);

impl core::fmt::Display for Spread {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let min = self.0.iter().min().copied().unwrap_or(0);
        let max = self.0.iter().max().copied().unwrap_or(0);
        write!(f, "{}|{}|{}", median(self.0), min, max)
    }
}

/// The f32 edges the int8 engine adds to the int8 chain: quantizing the
/// window, dequantizing the output (the same public functions it calls).
#[inline(never)]
fn edges(window: &[f32], model: &Model<'_>, x: &mut [i8; WIDTH], y: &mut [f32; WIDTH]) {
    let (Some(Op::DenseI8(first)), Some(Op::DenseI8(last))) =
        (model.ops().first(), model.ops().last())
    else {
        return;
    };
    int8::quantize_into(window, &first.input, &mut x[..window.len()]);
    int8::dequantize_in_place(&mut y[..], last.outputs, &last.output);
}

/// Widest layer input or output (bytes of one int8 activation buffer).
fn widest(model: &Model<'_>) -> usize {
    model
        .ops()
        .iter()
        .map(|op| op.inputs().max(op.outputs()))
        .max()
        .unwrap_or(0)
}

/// What CMSIS-NN reads besides code: int8 weights, an int32 bias per
/// output row, and an int32 multiplier and shift per row, or per layer
/// where the per-tensor kernel runs it.
fn cmsis_bytes(chain: &Chain<'_>) -> usize {
    chain
        .ops
        .iter()
        .zip(chain.uniform)
        .map(|(op, uniform)| {
            let requant = if uniform { 1 } else { op.outputs() };
            op.inputs() * op.outputs() + 4 * op.outputs() + 8 * requant
        })
        .sum()
}

/// Each layer on the same int8 input (CMSIS-NN's output of the layer
/// before): edgeae's `ops::int8::run` (packed as the engine packs) beside
/// CMSIS-NN per channel, and per tensor where the layer allows. True if a
/// layer differed or failed.
fn layer_by_layer(chain: &mut Chain<'_>, x0: &[i8; WIDTH]) -> bool {
    let mut x = *x0;
    let mut packed = [0f32; WIDTH];
    let (mut ours, mut theirs) = ([0i8; WIDTH], [0i8; WIDTH]);
    let mut row = 0;
    let mut failed = false;
    for (l, op) in chain.ops.iter().enumerate() {
        let Op::DenseI8(d) = op else { continue };
        let (n, m) = (d.inputs, d.outputs);
        bytemuck::cast_slice_mut::<f32, i8>(&mut packed)[..n].copy_from_slice(&x[..n]);
        int8::pack_i8_in_place(&mut packed, n, d.input.zero_point);
        int8::run(d, bytemuck::cast_slice(&packed), &mut ours[..m]);
        // Per tensor first, so that `theirs` ends as the per-channel output.
        for per_tensor in [true, false] {
            if per_tensor && !chain.uniform[l] {
                continue;
            }
            if let Err(e) = chain.layer(l, d, row, per_tensor, &x[..n], &mut theirs[..m]) {
                hprintln!("MLPerf layer {}: CMSIS-NN: {:?}", l, e);
                return true;
            }
            if let Some(k) = (0..m).find(|&k| ours[k] != theirs[k]) {
                hprintln!(
                    "MLPerf layer {} ({} -> {}, CMSIS-NN per {}): first difference at output {}: edgeae {} CMSIS-NN {}",
                    l,
                    n,
                    m,
                    if per_tensor { "tensor" } else { "channel" },
                    k,
                    ours[k],
                    theirs[k]
                );
                failed = true;
            }
        }
        x[..m].copy_from_slice(&theirs[..m]);
        row += m;
    }
    if !failed {
        hprintln!(
            "@note|every layer's int8 output equal (ops::int8::run beside CMSIS-NN on the same input, per channel and, where the layer allows, per tensor), {} layers",
            chain.ops.len()
        );
    }
    failed
}

/// The int8 engine's output (f32, dequantized) beside the CMSIS-NN
/// chain's (run as `what` says), dequantized the same way; true if equal
/// bit for bit.
fn whole_output(engine: &Engine<'_, '_>, model: &Model<'_>, theirs: &[i8], what: &str) -> bool {
    let Some(Op::DenseI8(last)) = model.ops().last() else {
        return false;
    };
    let (_, ours) = engine.last_reconstruction();
    let differ = ours
        .iter()
        .zip(theirs)
        .position(|(o, t)| o.to_bits() != int8::dequantize(*t, &last.output).to_bits());
    match differ {
        None if ours.len() == last.outputs => {
            hprintln!(
                "@note|whole inference equal: the int8 Engine's {} outputs = CMSIS-NN's chain output ({}) dequantized, bit for bit",
                ours.len(),
                what
            );
            true
        }
        None => {
            hprintln!(
                "MLPerf: the engine gave {} outputs, not {}",
                ours.len(),
                last.outputs
            );
            false
        }
        Some(k) => {
            hprintln!(
                "MLPerf: whole inference differs at output {}: edgeae {} CMSIS-NN ({}) {} (dequantized {})",
                k,
                ours[k],
                what,
                theirs[k],
                int8::dequantize(theirs[k], &last.output)
            );
            false
        }
    }
}
