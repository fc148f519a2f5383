/* Flat entry points into CMSIS-NN for the Rust benchmark image: each fills
 * CMSIS-NN's parameter structs from plain integers and calls the kernel
 * TFLite Micro would call for the layer (the s8 wrappers pick the fastest
 * variant for the shape). Batch 1, dilation 1, NHWC maps, OHWI filters. */
#include "arm_nnfunctions.h"

int32_t shim_convolve_s8_buffer_size(int32_t in_h, int32_t in_w, int32_t in_c, int32_t out_c,
                                     int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t ph, int32_t pw,
                                     int32_t out_h, int32_t out_w)
{
    const cmsis_nn_conv_params p = {0, 0, {sw, sh}, {pw, ph}, {1, 1}, {-128, 127}};
    const cmsis_nn_dims in = {1, in_h, in_w, in_c};
    const cmsis_nn_dims filter = {out_c, kh, kw, in_c};
    const cmsis_nn_dims out = {1, out_h, out_w, out_c};
    return arm_convolve_wrapper_s8_get_buffer_size(&p, &in, &filter, &out);
}

int32_t shim_convolve_s8(void *buf, int32_t buf_size, const int8_t *input, int32_t in_h, int32_t in_w,
                         int32_t in_c, const int8_t *filter, int32_t out_c, int32_t kh, int32_t kw, int32_t sh,
                         int32_t sw, int32_t ph, int32_t pw, const int32_t *bias, int32_t *mult, int32_t *shift,
                         int32_t input_offset, int32_t output_offset, int32_t act_min, int32_t act_max,
                         int8_t *output, int32_t out_h, int32_t out_w)
{
    const cmsis_nn_context ctx = {buf, buf_size};
    const cmsis_nn_conv_params p = {
        input_offset, output_offset, {sw, sh}, {pw, ph}, {1, 1}, {act_min, act_max}};
    const cmsis_nn_per_channel_quant_params q = {mult, shift};
    const cmsis_nn_dims in = {1, in_h, in_w, in_c};
    const cmsis_nn_dims filter_dims = {out_c, kh, kw, in_c};
    const cmsis_nn_dims bias_dims = {1, 1, 1, out_c};
    const cmsis_nn_dims out = {1, out_h, out_w, out_c};
    return arm_convolve_wrapper_s8(&ctx, &p, &q, &in, input, &filter_dims, filter, &bias_dims, bias, &out, output);
}

/* Sizes of the two buffers arm_transpose_conv_wrapper_s8 needs. */
int32_t shim_transpose_conv_s8_buffer_sizes(int32_t in_h, int32_t in_w, int32_t in_c, int32_t out_c,
                                            int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t ph,
                                            int32_t pw, int32_t out_h, int32_t out_w, int32_t *reverse_size)
{
    const cmsis_nn_transpose_conv_params p = {0, 0, {sw, sh}, {pw, ph}, {0, 0}, {1, 1}, {-128, 127}};
    const cmsis_nn_dims in = {1, in_h, in_w, in_c};
    const cmsis_nn_dims filter = {out_c, kh, kw, in_c};
    const cmsis_nn_dims out = {1, out_h, out_w, out_c};
    *reverse_size = arm_transpose_conv_s8_get_reverse_conv_buffer_size(&p, &in, &filter);
    return arm_transpose_conv_s8_get_buffer_size(&p, &in, &filter, &out);
}

int32_t shim_transpose_conv_s8(void *buf, int32_t buf_size, void *reverse_buf, int32_t reverse_size,
                               const int8_t *input, int32_t in_h, int32_t in_w, int32_t in_c,
                               const int8_t *filter, int32_t out_c, int32_t kh, int32_t kw, int32_t sh, int32_t sw,
                               int32_t ph, int32_t pw, int32_t pad_off_h, int32_t pad_off_w, const int32_t *bias,
                               int32_t *mult, int32_t *shift, int32_t input_offset, int32_t output_offset,
                               int32_t act_min, int32_t act_max, int8_t *output, int32_t out_h, int32_t out_w)
{
    const cmsis_nn_context ctx = {buf, buf_size};
    const cmsis_nn_context reverse_ctx = {reverse_buf, reverse_size};
    const cmsis_nn_transpose_conv_params p = {input_offset, output_offset, {sw, sh}, {pw, ph},
                                              {pad_off_w, pad_off_h}, {1, 1}, {act_min, act_max}};
    const cmsis_nn_per_channel_quant_params q = {mult, shift};
    const cmsis_nn_dims in = {1, in_h, in_w, in_c};
    const cmsis_nn_dims filter_dims = {out_c, kh, kw, in_c};
    const cmsis_nn_dims bias_dims = {1, 1, 1, out_c};
    const cmsis_nn_dims out = {1, out_h, out_w, out_c};
    return arm_transpose_conv_wrapper_s8(&ctx, &reverse_ctx, &p, &q, &in, input, &filter_dims, filter, &bias_dims,
                                         bias, &out, output);
}

/* arm_lstm_unidirectional_s8, batch 1, time major, on an LSTM whose four
 * gates' weight blocks are stacked in PyTorch's order (i, f, g, o) in w_ih
 * (4·hidden × in) and w_hh (4·hidden × hidden). gate_mult/gate_shift hold
 * per gate k the input part's multiplier and shift at [k] and the hidden
 * part's at [4 + k]; eff_bias the effective biases, input part then hidden
 * part (8·hidden values, gate blocks in the same order). The zero state:
 * the cell state is cleared and the hidden state set to the output zero
 * point (real 0) before the call. Buffers: temp1, temp2 and cell (hidden
 * int16 each), hidden_state (hidden int8). */
int32_t shim_lstm_s8(const int8_t *input, int8_t *output, int32_t steps, int32_t in, int32_t hidden,
                     const int8_t *w_ih, const int8_t *w_hh, const int32_t *gate_mult, const int32_t *gate_shift,
                     const int32_t *eff_bias, int32_t cell_scale_power, int32_t out_mult, int32_t out_shift,
                     int32_t out_offset, int16_t *temp1, int16_t *temp2, int16_t *cell, int8_t *hidden_state)
{
    cmsis_nn_lstm_gate gates[4];
    const arm_nn_activation_type act[4] = {ARM_SIGMOID, ARM_SIGMOID, ARM_TANH, ARM_SIGMOID};
    for (int k = 0; k < 4; k++)
    {
        gates[k].input_multiplier = gate_mult[k];
        gates[k].input_shift = gate_shift[k];
        gates[k].input_weights = w_ih + k * hidden * in;
        gates[k].input_effective_bias = eff_bias + k * hidden;
        gates[k].hidden_multiplier = gate_mult[4 + k];
        gates[k].hidden_shift = gate_shift[4 + k];
        gates[k].hidden_weights = w_hh + k * hidden * hidden;
        gates[k].hidden_effective_bias = eff_bias + (4 + k) * hidden;
        gates[k].bias = 0;
        gates[k].activation_type = act[k];
    }
    /* f·c and i·g to the cell scale 2^p: 2^-15 and 2^(-30-p) as multipliers. */
    const cmsis_nn_lstm_params p = {1,
                                    1,
                                    steps,
                                    in,
                                    hidden,
                                    0,
                                    1 << 30,
                                    -14,
                                    1 << 30,
                                    -29 - cell_scale_power,
                                    0,
                                    cell_scale_power,
                                    out_mult,
                                    out_shift,
                                    out_offset,
                                    gates[1],
                                    gates[0],
                                    gates[2],
                                    gates[3]};
    for (int j = 0; j < hidden; j++)
    {
        cell[j] = 0;
        hidden_state[j] = (int8_t)out_offset;
    }
    cmsis_nn_lstm_context ctx = {temp1, temp2, cell, hidden_state};
    return arm_lstm_unidirectional_s8(input, output, &p, &ctx);
}

/* arm_fully_connected_per_channel_s8, batch 1: `outputs` rows of `inputs`
 * int8 weights (row-major, output by input), int32 bias, a multiplier and
 * shift per row; or, if per_tensor, arm_fully_connected_s8 with mult[0]
 * and shift[0] for every row. The DSP build asks for no buffer
 * (arm_fully_connected_s8_get_buffer_size gives 0 without MVE), so the
 * context is empty; shim_fc_buffer_size says what it would ask. */
int32_t shim_fc_buffer_size(int32_t inputs, int32_t outputs)
{
    const cmsis_nn_dims filter = {inputs, 1, 1, outputs};
    return arm_fully_connected_s8_get_buffer_size(&filter);
}

int32_t shim_fc_s8(int32_t per_tensor, const int8_t *input, const int8_t *weights, const int32_t *bias,
                   int32_t *mult, int32_t *shift, int32_t inputs, int32_t outputs, int32_t input_offset,
                   int32_t output_offset, int32_t act_min, int32_t act_max, int8_t *output)
{
    const cmsis_nn_context ctx = {NULL, 0};
    const cmsis_nn_fc_params p = {input_offset, 0, output_offset, {act_min, act_max}};
    const cmsis_nn_dims in = {1, 1, 1, inputs};
    const cmsis_nn_dims filter = {inputs, 1, 1, outputs};
    const cmsis_nn_dims bias_dims = {1, 1, 1, outputs};
    const cmsis_nn_dims out = {1, 1, 1, outputs};
    if (per_tensor)
    {
        const cmsis_nn_per_tensor_quant_params q = {mult[0], shift[0]};
        return arm_fully_connected_s8(&ctx, &p, &q, &in, input, &filter, weights, &bias_dims, bias, &out, output);
    }
    const cmsis_nn_per_channel_quant_params q = {mult, shift};
    return arm_fully_connected_per_channel_s8(&ctx, &p, &q, &in, input, &filter, weights, &bias_dims, bias, &out,
                                              output);
}
