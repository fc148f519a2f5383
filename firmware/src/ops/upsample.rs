//! Nearest-neighbour upsampling (SPEC.md 3.3, "Feature-map layers"):
//! output `(y, x, ch)` copies input `(⌊y/fh⌋, ⌊x/fw⌋, ch)`. The same code
//! moves f32 and int8 values (an int8 upsampling keeps its quantization).
//! Indices come from a validated model; the kernel reads through `get` and
//! never panics.

use model_format::UpsampleOp;

/// Runs an upsampling on the channel-last map `x` into `y`.
pub fn run<T: Copy>(op: &UpsampleOp, x: &[T], y: &mut [T]) {
    let (input, output) = (op.input, op.output);
    let c = output.c;
    let [fh, fw] = op.factor.map(|f| f.max(1));
    let Some(y) = y.get_mut(..output.len()) else {
        return; // unreachable with buffers sized by `ScratchPlan`
    };
    if c == 0 {
        return;
    }
    for (oy, row) in y
        .chunks_exact_mut(output.w.saturating_mul(c).max(1))
        .enumerate()
    {
        let src = (oy / fh) * input.w;
        for (ox, px) in row.chunks_exact_mut(c).enumerate() {
            let start = (src + ox / fw) * c;
            for (d, s) in px
                .iter_mut()
                .zip(x.get(start..start + c).unwrap_or_default())
            {
                *d = *s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model_format::MapDims;

    #[test]
    fn repeats_each_value_over_its_block() {
        let op = UpsampleOp {
            input: MapDims { h: 2, w: 2, c: 1 },
            output: MapDims { h: 4, w: 6, c: 1 },
            factor: [2, 3],
        };
        let mut y = [0i8; 24];
        run(&op, &[1i8, 2, 3, 4], &mut y);
        assert_eq!(
            y,
            [
                1, 1, 1, 2, 2, 2, //
                1, 1, 1, 2, 2, 2, //
                3, 3, 3, 4, 4, 4, //
                3, 3, 3, 4, 4, 4,
            ]
        );
        // Channels move together: 1 x 2 x 2 by 2.
        let op = UpsampleOp {
            input: MapDims { h: 1, w: 2, c: 2 },
            output: MapDims { h: 1, w: 4, c: 2 },
            factor: [1, 2],
        };
        let mut y = [0.0f32; 8];
        run(&op, &[1.0, -1.0, 2.0, -2.0], &mut y);
        assert_eq!(y, [1.0, -1.0, 1.0, -1.0, 2.0, -2.0, 2.0, -2.0]);
    }
}
