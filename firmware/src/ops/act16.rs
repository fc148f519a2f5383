//! Sigmoid and tanh of 16-bit fixed-point values by table with linear
//! interpolation, exactly CMSIS-NN's `arm_nn_activation_s16` (SPEC.md 3.3,
//! "int8 recurrent layers", `act16`): the input is Q3.12 scaled by `2^ls`,
//! the output Q0.15. Integer-only; no panics (the table is read through
//! `get`).

/// CMSIS-NN's `sigmoid_table_uint16`: `T[i]` ≈ σ(i/24) in unsigned 0.16
/// (SPEC.md lists the same 256 values).
pub static TABLE: [u16; 256] = [
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794,
    41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443,
    48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169, 53581, 53983, 54374,
    54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544,
    58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279,
    61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990,
    63090, 63186, 63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030,
    64090, 64148, 64204, 64257, 64308, 64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652,
    64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019,
    65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234,
    65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360,
    65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433,
    65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476,
    65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498, 65500, 65501,
    65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516,
    65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529,
    65529, 65530, 65530, 65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532,
    65532, 65532, 65532, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65534, 65534,
    65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
];

/// Which function.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Sigmoid,
    Tanh,
}

/// The input scaling `2^ls` as `act16` applies it: `(v·m + round) >> a`.
/// Computed once per layer where `ls` is the layer's, not per value.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    m: i32,
    a: i32,
    round: i32,
}

impl Scale {
    /// The scaling of a Q3.12 input times `2^ls`.
    #[inline(always)]
    pub fn new(ls: i32) -> Scale {
        let (m, a) = if ls < 0 { (3, -ls) } else { (3 << ls, 0) };
        let round = if a > 0 { 1 << (a - 1) } else { 0 };
        Scale { m, a, round }
    }
}

#[inline(always)]
fn act16(v: i32, ls: i32, kind: Kind) -> i32 {
    act16_scaled(v, Scale::new(ls), kind)
}

#[inline(always)]
fn act16_scaled(v: i32, scale: Scale, kind: Kind) -> i32 {
    let (sh, top) = match kind {
        Kind::Sigmoid => (9, 32767 << 10),
        Kind::Tanh => (8, 65535 << 8),
    };
    let Scale { m, a, round } = scale;
    let u = (v.wrapping_mul(m).wrapping_add(round)) >> a;
    let au = u.unsigned_abs();
    let uh = (au >> sh) as usize;
    let res = if uh >= 255 {
        top
    } else {
        let ta = i32::from(TABLE.get(uh).copied().unwrap_or(0));
        let tb = i32::from(TABLE.get(uh + 1).copied().unwrap_or(0));
        let frac = (au & ((1 << sh) - 1)) as i32;
        (ta << sh) + frac * (tb - ta)
    };
    match (kind, u >= 0) {
        (Kind::Sigmoid, true) => (res + (1 << 9)) >> 10,
        (Kind::Sigmoid, false) => ((1 << 25) - res + (1 << 9) - 1) >> 10,
        (Kind::Tanh, true) => (res - (1 << 23) + (1 << 7)) >> 8,
        (Kind::Tanh, false) => ((1 << 23) - res + (1 << 7) - 1) >> 8,
    }
}

/// σ of `v` read as Q3.12 times `2^ls`, in Q0.15 (1 ..= 32767).
#[inline]
pub fn sigmoid16(v: i32, ls: i32) -> i32 {
    act16(v, ls, Kind::Sigmoid)
}

/// tanh of `v` read as Q3.12 times `2^ls`, in Q0.15 (−32767 ..= 32767).
#[inline]
pub fn tanh16(v: i32, ls: i32) -> i32 {
    act16(v, ls, Kind::Tanh)
}

/// [`tanh16`] with the input scaling computed beforehand:
/// `tanh16_scaled(v, Scale::new(ls)) == tanh16(v, ls)`.
#[inline]
pub fn tanh16_scaled(v: i32, scale: Scale) -> i32 {
    act16_scaled(v, scale, Kind::Tanh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_the_ends() {
        assert_eq!(sigmoid16(0, 0), 16384);
        assert_eq!(tanh16(0, 0), 0);
        // σ(8) from the table; past 10.6 (here 16, a left shift of 1) the top.
        assert_eq!(sigmoid16(32767, 0), 32757);
        assert_eq!(sigmoid16(32767, 1), 32767);
        assert_eq!(sigmoid16(-32768, 1), 1);
        assert_eq!(tanh16(32767, 0), 32767);
        assert_eq!(tanh16(-32768, 0), -32767);
    }

    #[test]
    fn close_to_the_functions() {
        for v in (-32768..=32767).step_by(97) {
            let x = f64::from(v) / 4096.0;
            let s = f64::from(sigmoid16(v, 0)) / 32768.0;
            let t = f64::from(tanh16(v, 0)) / 32768.0;
            assert!((s - 1.0 / (1.0 + (-x).exp())).abs() < 2e-4, "sigmoid {v}");
            assert!((t - x.tanh()).abs() < 4e-4, "tanh {v}");
            // A left shift of 1 reads the same value as twice as large.
            assert_eq!(tanh16(v / 2 * 2, 0), tanh16(v / 2, 1), "{v}");
            for ls in -15..=2 {
                assert_eq!(tanh16_scaled(v, Scale::new(ls)), tanh16(v, ls), "{v} {ls}");
            }
        }
    }

    #[test]
    fn monotone() {
        let mut last = (i32::MIN, i32::MIN);
        for v in -32768..=32767 {
            let now = (sigmoid16(v, 0), tanh16(v, 0));
            assert!(now.0 >= last.0 && now.1 >= last.1, "{v}");
            last = now;
        }
    }
}
