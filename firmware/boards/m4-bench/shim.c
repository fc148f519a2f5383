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
