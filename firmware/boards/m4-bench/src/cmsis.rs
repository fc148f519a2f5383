//! CMSIS-NN through `shim.c`, and the only `unsafe` code of this image
//! besides the board module it shares with qemu-mps2.
//!
//! Audit: each wrapper passes pointers to live slices whose lengths it has
//! checked against the sizes the C function reads and writes (maps, filters,
//! per-channel arrays, scratch buffers), for the duration of the call only;
//! the C code keeps no pointer after it returns.
#![allow(unsafe_code)]

use crate::case::ConvLayer;

unsafe extern "C" {
    fn shim_fc_buffer_size(inputs: i32, outputs: i32) -> i32;
    fn shim_fc_s8(
        per_tensor: i32,
        input: *const i8,
        weights: *const i8,
        bias: *const i32,
        mult: *mut i32,
        shift: *mut i32,
        inputs: i32,
        outputs: i32,
        input_offset: i32,
        output_offset: i32,
        act_min: i32,
        act_max: i32,
        output: *mut i8,
    ) -> i32;
    fn shim_lstm_s8(
        input: *const i8,
        output: *mut i8,
        steps: i32,
        inputs: i32,
        hidden: i32,
        w_ih: *const i8,
        w_hh: *const i8,
        gate_mult: *const i32,
        gate_shift: *const i32,
        eff_bias: *const i32,
        cell_scale_power: i32,
        out_mult: i32,
        out_shift: i32,
        out_offset: i32,
        temp1: *mut i16,
        temp2: *mut i16,
        cell: *mut i16,
        hidden_state: *mut i8,
    ) -> i32;
    fn shim_convolve_s8_buffer_size(
        in_h: i32,
        in_w: i32,
        in_c: i32,
        out_c: i32,
        kh: i32,
        kw: i32,
        sh: i32,
        sw: i32,
        ph: i32,
        pw: i32,
        out_h: i32,
        out_w: i32,
    ) -> i32;
    fn shim_convolve_s8(
        buf: *mut u32,
        buf_size: i32,
        input: *const i8,
        in_h: i32,
        in_w: i32,
        in_c: i32,
        filter: *const i8,
        out_c: i32,
        kh: i32,
        kw: i32,
        sh: i32,
        sw: i32,
        ph: i32,
        pw: i32,
        bias: *const i32,
        mult: *mut i32,
        shift: *mut i32,
        input_offset: i32,
        output_offset: i32,
        act_min: i32,
        act_max: i32,
        output: *mut i8,
        out_h: i32,
        out_w: i32,
    ) -> i32;
    fn shim_transpose_conv_s8_buffer_sizes(
        in_h: i32,
        in_w: i32,
        in_c: i32,
        out_c: i32,
        kh: i32,
        kw: i32,
        sh: i32,
        sw: i32,
        ph: i32,
        pw: i32,
        out_h: i32,
        out_w: i32,
        reverse_size: *mut i32,
    ) -> i32;
    fn shim_transpose_conv_s8(
        buf: *mut u32,
        buf_size: i32,
        reverse_buf: *mut u32,
        reverse_size: i32,
        input: *const i8,
        in_h: i32,
        in_w: i32,
        in_c: i32,
        filter: *const i8,
        out_c: i32,
        kh: i32,
        kw: i32,
        sh: i32,
        sw: i32,
        ph: i32,
        pw: i32,
        pad_off_h: i32,
        pad_off_w: i32,
        bias: *const i32,
        mult: *mut i32,
        shift: *mut i32,
        input_offset: i32,
        output_offset: i32,
        act_min: i32,
        act_max: i32,
        output: *mut i8,
        out_h: i32,
        out_w: i32,
    ) -> i32;
}

/// Why a CMSIS-NN call did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// A buffer is smaller than the call needs.
    Buffer,
    /// CMSIS-NN returned this status.
    Status(i32),
}

fn bytes(words: &[u32]) -> i32 {
    i32::try_from(words.len() * 4).unwrap_or(i32::MAX)
}

fn i(v: usize) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// Quantization arguments shared by the calls.
pub struct Requant<'a> {
    /// Per output channel (per-channel kernels).
    pub mult: &'a mut [i32],
    /// Per output channel.
    pub shift: &'a mut [i32],
    /// −input zero point.
    pub input_offset: i32,
    /// Output zero point.
    pub output_offset: i32,
    /// Clamp after adding the output offset.
    pub act: (i32, i32),
}

/// `arm_convolve_wrapper_s8` (or `arm_transpose_conv_wrapper_s8` for a
/// transposed layer) on one map; gives the bytes of scratch buffers the
/// call asked for.
#[allow(clippy::too_many_arguments)] // the layer, its four tensors, two buffers, the output
pub fn conv(
    layer: &ConvLayer,
    input: &[i8],
    filter: &[i8],
    bias: &[i32],
    q: &mut Requant<'_>,
    buf: &mut [u32],
    reverse: &mut [u32],
    output: &mut [i8],
) -> Result<usize, Refused> {
    let g = layer;
    let (oh, ow) = g.output_hw();
    let [ph, pw] = g.pad();
    let [offh, offw] = g.pad_offsets();
    if input.len() < g.in_h * g.in_w * g.in_c
        || filter.len() < g.out_c * g.kh * g.kw * g.in_c
        || bias.len() < g.out_c
        || q.mult.len() < g.out_c
        || q.shift.len() < g.out_c
        || output.len() < oh * ow * g.out_c
    {
        return Err(Refused::Buffer);
    }
    // SAFETY: every slice is at least as long as the C code reads or writes
    // (checked above and below); see the module's audit note.
    let (status, asked) = unsafe {
        if g.transposed {
            let mut rev = 0i32;
            let need = shim_transpose_conv_s8_buffer_sizes(
                i(g.in_h),
                i(g.in_w),
                i(g.in_c),
                i(g.out_c),
                i(g.kh),
                i(g.kw),
                i(g.sh),
                i(g.sw),
                i(ph),
                i(pw),
                i(oh),
                i(ow),
                &mut rev,
            );
            if need > bytes(buf) || rev > bytes(reverse) {
                return Err(Refused::Buffer);
            }
            let status = shim_transpose_conv_s8(
                buf.as_mut_ptr(),
                bytes(buf),
                reverse.as_mut_ptr(),
                bytes(reverse),
                input.as_ptr(),
                i(g.in_h),
                i(g.in_w),
                i(g.in_c),
                filter.as_ptr(),
                i(g.out_c),
                i(g.kh),
                i(g.kw),
                i(g.sh),
                i(g.sw),
                i(ph),
                i(pw),
                i(offh),
                i(offw),
                bias.as_ptr(),
                q.mult.as_mut_ptr(),
                q.shift.as_mut_ptr(),
                q.input_offset,
                q.output_offset,
                q.act.0,
                q.act.1,
                output.as_mut_ptr(),
                i(oh),
                i(ow),
            );
            (status, need + rev)
        } else {
            let need = shim_convolve_s8_buffer_size(
                i(g.in_h),
                i(g.in_w),
                i(g.in_c),
                i(g.out_c),
                i(g.kh),
                i(g.kw),
                i(g.sh),
                i(g.sw),
                i(ph),
                i(pw),
                i(oh),
                i(ow),
            );
            if need > bytes(buf) {
                return Err(Refused::Buffer);
            }
            let status = shim_convolve_s8(
                buf.as_mut_ptr(),
                bytes(buf),
                input.as_ptr(),
                i(g.in_h),
                i(g.in_w),
                i(g.in_c),
                filter.as_ptr(),
                i(g.out_c),
                i(g.kh),
                i(g.kw),
                i(g.sh),
                i(g.sw),
                i(ph),
                i(pw),
                bias.as_ptr(),
                q.mult.as_mut_ptr(),
                q.shift.as_mut_ptr(),
                q.input_offset,
                q.output_offset,
                q.act.0,
                q.act.1,
                output.as_mut_ptr(),
                i(oh),
                i(ow),
            );
            (status, need)
        }
    };
    if status == 0 {
        Ok(usize::try_from(asked).unwrap_or(0))
    } else {
        Err(Refused::Status(status))
    }
}

/// An int8 LSTM as `arm_lstm_unidirectional_s8` takes it (see `shim.c`).
pub struct Lstm<'a> {
    /// Steps, inputs per step, hidden units.
    pub size: (usize, usize, usize),
    /// `4·hidden × in`, gates `i, f, g, o`.
    pub w_ih: &'a [i8],
    /// `4·hidden × hidden`.
    pub w_hh: &'a [i8],
    /// Per gate: input part at `k`, hidden part at `4 + k`.
    pub mult: [i32; 8],
    /// As `mult`.
    pub shift: [i32; 8],
    /// Effective biases, input part (`4·hidden`) then hidden part.
    pub eff_bias: &'a [i32],
    /// The cell state's scale is `2^cell_scale_power`.
    pub cell_scale_power: i32,
    /// Q0.30 to the output: multiplier, shift, zero point.
    pub out: (i32, i32, i32),
}

/// The int16 and int8 buffers `arm_lstm_unidirectional_s8` works in.
pub struct LstmBuffers<'a> {
    /// `temp1`, `temp2`, the cell state: `hidden` values each.
    pub temp: [&'a mut [i16]; 3],
    /// The hidden state, `hidden` values.
    pub hidden: &'a mut [i8],
}

/// Runs the LSTM on `input` (`steps × in`) into `output` (`steps × hidden`).
pub fn lstm(
    l: &Lstm<'_>,
    input: &[i8],
    output: &mut [i8],
    b: &mut LstmBuffers<'_>,
) -> Result<(), Refused> {
    let (steps, inputs, hidden) = l.size;
    let [t1, t2, cell] = &mut b.temp;
    if input.len() < steps * inputs
        || output.len() < steps * hidden
        || l.w_ih.len() < 4 * hidden * inputs
        || l.w_hh.len() < 4 * hidden * hidden
        || l.eff_bias.len() < 8 * hidden
        || t1.len() < hidden
        || t2.len() < hidden
        || cell.len() < hidden
        || b.hidden.len() < hidden
    {
        return Err(Refused::Buffer);
    }
    // SAFETY: every slice is at least as long as the C code reads or writes
    // (checked above); see the module's audit note.
    let status = unsafe {
        shim_lstm_s8(
            input.as_ptr(),
            output.as_mut_ptr(),
            i(steps),
            i(inputs),
            i(hidden),
            l.w_ih.as_ptr(),
            l.w_hh.as_ptr(),
            l.mult.as_ptr(),
            l.shift.as_ptr(),
            l.eff_bias.as_ptr(),
            l.cell_scale_power,
            l.out.0,
            l.out.1,
            l.out.2,
            t1.as_mut_ptr(),
            t2.as_mut_ptr(),
            cell.as_mut_ptr(),
            b.hidden.as_mut_ptr(),
        )
    };
    if status == 0 {
        Ok(())
    } else {
        Err(Refused::Status(status))
    }
}

/// `arm_fully_connected_per_channel_s8` on one int8 vector: `weights` holds
/// `output.len()` rows of `input.len()` values, `q` a multiplier and shift
/// per row. With `per_tensor`, `arm_fully_connected_s8` instead, with the
/// first row's multiplier and shift for every row. CMSIS-NN's DSP build
/// asks for no buffer; a build that asks for one is refused.
pub fn fully_connected(
    input: &[i8],
    weights: &[i8],
    bias: &[i32],
    q: &mut Requant<'_>,
    per_tensor: bool,
    output: &mut [i8],
) -> Result<(), Refused> {
    let (n, m) = (input.len(), output.len());
    if m == 0 || weights.len() < n * m || bias.len() < m || q.mult.len() < m || q.shift.len() < m {
        return Err(Refused::Buffer);
    }
    // SAFETY: every slice is at least as long as the C code reads or writes
    // (checked above, `mult` and `shift` hold at least one value; no
    // context buffer once the size call gives 0); see the module's audit
    // note.
    let status = unsafe {
        if shim_fc_buffer_size(i(n), i(m)) != 0 {
            return Err(Refused::Buffer);
        }
        shim_fc_s8(
            i32::from(per_tensor),
            input.as_ptr(),
            weights.as_ptr(),
            bias.as_ptr(),
            q.mult.as_mut_ptr(),
            q.shift.as_mut_ptr(),
            i(n),
            i(m),
            q.input_offset,
            q.output_offset,
            q.act.0,
            q.act.1,
            output.as_mut_ptr(),
        )
    };
    if status == 0 {
        Ok(())
    } else {
        Err(Refused::Status(status))
    }
}
