//! Convolutional architectures (`edgeae train --kind conv`): the compact
//! `--arch` string, and the default architecture for an input shape.
//!
//! # The `--arch` string
//!
//! Layers separated by commas, encoder and decoder separated by one `|`
//! (the codings are the output of the last encoder layer):
//!
//! | token | layer |
//! |---|---|
//! | `c16k3` | convolution, 16 filters, kernel 3 (3×3 on images, 3 on sensor windows), stride 1 |
//! | `c32k5s2` | the same with stride 2 |
//! | `c16k3v` | `v`: valid padding (default: same) |
//! | `t32k3s2` | transposed convolution (same options) |
//! | `p2` / `a2` | max / average pooling of size (and stride) 2 |
//! | `u2` | nearest-neighbour upsampling by 2 |
//! | `d30` | dense layer with 30 outputs (flattens a feature map) |
//! | `r3x3x64`, `r16x32` | reshape the flat values into a map (`h×w×c`, or `length×channels`) |
//!
//! Any layer with weights takes an activation suffix: `:selu` (the default),
//! `:relu`, `:tanh`, `:sigmoid`, `:identity`. The last layer's activation is
//! the run's output activation (sigmoid for data in [0, 1] trained with
//! cross-entropy, else identity) unless the string gives one.
//!
//! A reshape is only needed where it cannot be inferred: a feature-map layer
//! after a dense layer takes the map the encoder had before its first dense
//! layer. The textbook Fashion-MNIST autoencoder is
//! `c16k3,p2,c32k3,p2,c64k3,p2|t32k3s2v,t16k3s2,t1k3s2:sigmoid`.
//!
//! Every shape is checked before training starts; an error names the layer
//! (its token and position) and the shapes.

use anyhow::{Context, Result, bail, ensure};
use model_format::Activation;

use crate::nn::conv_shape::{
    ConvSpec, ConvTransposeSpec, MapShape, Padding, PoolKind, PoolSpec, Reshape, UpsampleSpec,
};
use crate::nn::net::{LayerSpec, NetSpec};

/// What a layer sees: a feature map, or flat values after a dense layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Map(MapShape),
    Flat(usize),
}

impl Shape {
    fn len(self) -> usize {
        match self {
            Shape::Map(m) => m.len(),
            Shape::Flat(n) => n,
        }
    }

    fn describe(self) -> String {
        match self {
            Shape::Map(m) if m.h == 1 => format!("{}×{}", m.w, m.c),
            Shape::Map(m) => format!("{}×{}×{}", m.h, m.w, m.c),
            Shape::Flat(n) => format!("{n} values"),
        }
    }
}

/// One parsed token.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    Conv {
        transpose: bool,
        filters: usize,
        kernel: usize,
        stride: usize,
        padding: Padding,
        activation: Option<Activation>,
    },
    Pool(PoolKind, usize),
    Upsample(usize),
    Dense(usize, Option<Activation>),
    Reshape(MapShape),
}

fn activation(name: &str) -> Result<Activation> {
    Ok(match name {
        "selu" => Activation::Selu,
        "relu" => Activation::Relu,
        "tanh" => Activation::Tanh,
        "sigmoid" => Activation::Sigmoid,
        "identity" | "linear" => Activation::Identity,
        _ => bail!("unknown activation `{name}` (selu, relu, tanh, sigmoid, identity)"),
    })
}

/// The number at the start of `s` and the rest.
fn number<'a>(s: &'a str, what: &str) -> Result<(usize, &'a str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: usize = s[..end]
        .parse()
        .with_context(|| format!("expected the {what} as a number"))?;
    ensure!(n > 0, "the {what} must be at least 1");
    Ok((n, &s[end..]))
}

fn parse_token(token: &str) -> Result<Token> {
    let (body, act) = match token.split_once(':') {
        Some((b, a)) => (b, Some(activation(a)?)),
        None => (token, None),
    };
    let mut chars = body.chars();
    let kind = chars.next().context("empty layer")?;
    let rest = chars.as_str();
    let parsed = match kind {
        'c' | 't' => {
            let (filters, rest) = number(rest, "number of filters")?;
            let rest = rest
                .strip_prefix('k')
                .context("expected `k` and the kernel size after the filters, as in `c16k3`")?;
            let (kernel, mut rest) = number(rest, "kernel size")?;
            let mut stride = 1;
            if let Some(r) = rest.strip_prefix('s') {
                (stride, rest) = number(r, "stride")?;
            }
            let padding = match rest {
                "" => Padding::Same,
                "v" => Padding::Valid,
                _ => {
                    bail!("unexpected `{rest}` (options: `s<stride>`, then `v` for valid padding)")
                }
            };
            Token::Conv {
                transpose: kind == 't',
                filters,
                kernel,
                stride,
                padding,
                activation: act,
            }
        }
        'p' | 'a' => {
            let (size, rest) = number(rest, "pool size")?;
            ensure!(rest.is_empty(), "unexpected `{rest}` after the pool size");
            let k = if kind == 'p' {
                PoolKind::Max
            } else {
                PoolKind::Avg
            };
            Token::Pool(k, size)
        }
        'u' => {
            let (f, rest) = number(rest, "upsampling factor")?;
            ensure!(rest.is_empty(), "unexpected `{rest}` after the factor");
            Token::Upsample(f)
        }
        'd' => {
            let (n, rest) = number(rest, "width")?;
            ensure!(rest.is_empty(), "unexpected `{rest}` after the width");
            Token::Dense(n, act)
        }
        'r' => {
            let dims: Vec<usize> = rest
                .split('x')
                .map(|d| number(d, "reshape size").map(|(n, _)| n))
                .collect::<Result<_>>()?;
            match dims[..] {
                [h, w, c] => Token::Reshape(MapShape::new(h, w, c)),
                [len, c] => Token::Reshape(MapShape::line(len, c)),
                _ => bail!("a reshape is `r<h>x<w>x<c>` or `r<length>x<channels>`"),
            }
        }
        _ => bail!("unknown layer `{kind}` (c, t, p, a, u, d, r)"),
    };
    if act.is_some()
        && matches!(
            parsed,
            Token::Pool(..) | Token::Upsample(_) | Token::Reshape(_)
        )
    {
        bail!("pooling, upsampling and reshapes take no activation");
    }
    Ok(parsed)
}

/// Builds the network for `arch` on inputs of shape `input`; `output` is
/// the last layer's activation and `codings` the codings layer's (`None`:
/// SELU) unless the string gives them.
pub fn parse(
    arch: &str,
    input: MapShape,
    output: Activation,
    codings: Option<Activation>,
) -> Result<NetSpec> {
    let halves: Vec<&str> = arch.split('|').collect();
    let [encoder, decoder] = halves[..] else {
        bail!("--arch `{arch}`: expected the encoder and the decoder separated by one `|`")
    };
    let tokens: Vec<(String, Token)> = encoder
        .split(',')
        .chain(decoder.split(','))
        .map(str::trim)
        .enumerate()
        .map(|(i, t)| {
            parse_token(t)
                .map(|p| (t.to_string(), p))
                .with_context(|| format!("--arch layer {} `{t}`", i + 1))
        })
        .collect::<Result<_>>()?;
    let n_encoder = encoder.split(',').count();
    let last_weighted = tokens
        .iter()
        .rposition(|(_, t)| matches!(t, Token::Conv { .. } | Token::Dense(..)))
        .context("--arch: the decoder needs a layer with weights")?;
    let mut shape = Shape::Map(input);
    // The map the encoder had before its first dense layer.
    let mut before_dense: Option<MapShape> = None;
    let mut layers = Vec::new();
    let mut codings_layer = None;
    for (i, (text, token)) in tokens.iter().enumerate() {
        let at = || format!("--arch layer {} `{text}` on {}", i + 1, shape.describe());
        let default_act = |a: Option<Activation>| {
            a.unwrap_or(if i == last_weighted {
                output
            } else if i + 1 == n_encoder {
                codings.unwrap_or(Activation::Selu)
            } else {
                Activation::Selu
            })
        };
        let map = |shape: Shape| -> Result<MapShape> {
            match (shape, before_dense) {
                (Shape::Map(m), _) => Ok(m),
                (Shape::Flat(n), Some(m)) if m.len() == n => Ok(m),
                (Shape::Flat(n), _) => bail!(
                    "a feature-map layer after a dense layer of {n} values needs a reshape (`r<h>x<w>x<c>`)"
                ),
            }
        };
        match *token {
            Token::Conv {
                transpose,
                filters,
                kernel,
                stride,
                padding,
                activation,
            } => {
                let m = map(shape).with_context(at)?;
                let (k, s) = if m.h == 1 {
                    ((1, kernel), (1, stride))
                } else {
                    ((kernel, kernel), (stride, stride))
                };
                let layer = if transpose {
                    let spec = ConvTransposeSpec {
                        input: m,
                        filters,
                        kernel: k,
                        stride: s,
                        padding,
                    };
                    shape = Shape::Map(spec.output().with_context(at)?);
                    LayerSpec::ConvTranspose {
                        spec,
                        activation: default_act(activation),
                    }
                } else {
                    let spec = ConvSpec {
                        input: m,
                        filters,
                        kernel: k,
                        stride: s,
                        padding,
                    };
                    shape = Shape::Map(spec.output().with_context(at)?);
                    LayerSpec::Conv {
                        spec,
                        activation: default_act(activation),
                    }
                };
                layers.push(layer);
            }
            Token::Pool(kind, size) => {
                let m = map(shape).with_context(at)?;
                let spec = PoolSpec {
                    input: m,
                    size: if m.h == 1 { (1, size) } else { (size, size) },
                    kind,
                };
                shape = Shape::Map(spec.output().with_context(at)?);
                layers.push(LayerSpec::Pool { spec });
            }
            Token::Upsample(f) => {
                let m = map(shape).with_context(at)?;
                let spec = UpsampleSpec {
                    input: m,
                    factor: if m.h == 1 { (1, f) } else { (f, f) },
                };
                shape = Shape::Map(spec.output().with_context(at)?);
                layers.push(LayerSpec::Upsample { spec });
            }
            Token::Dense(n, activation) => {
                if let Shape::Map(m) = shape
                    && before_dense.is_none()
                {
                    before_dense = Some(m);
                }
                layers.push(LayerSpec::Dense {
                    inputs: shape.len(),
                    outputs: n,
                    activation: default_act(activation),
                });
                shape = Shape::Flat(n);
            }
            Token::Reshape(m) => {
                let r = Reshape::new(
                    match shape {
                        Shape::Map(from) => from,
                        Shape::Flat(n) => MapShape::vector(n),
                    },
                    m,
                )
                .with_context(at)?;
                shape = Shape::Map(r.to);
                // A reshape is no layer: the values stay where they are.
            }
        }
        if i + 1 == n_encoder {
            ensure!(
                !layers.is_empty(),
                "--arch: the encoder needs a layer with weights before `|`"
            );
            codings_layer = Some(layers.len() - 1);
        }
    }
    let out = shape.len();
    ensure!(
        out == input.len() && (shape == Shape::Map(input) || matches!(shape, Shape::Flat(_))),
        "--arch `{arch}`: the decoder ends on {}, the input is {}",
        shape.describe(),
        Shape::Map(input).describe()
    );
    let codings_layer = codings_layer.context("--arch: no encoder")?;
    ensure!(
        codings_layer + 1 < layers.len(),
        "--arch `{arch}`: the decoder needs a layer with weights after `|`"
    );
    let spec = NetSpec {
        layers,
        codings_layer,
        logvar_head: false,
        predict_from: None,
    };
    spec.check().with_context(|| format!("--arch `{arch}`"))?;
    Ok(spec)
}

/// The default architecture string for inputs of shape `input` with
/// `codings` values in the bottleneck (a dense layer), or the textbook
/// stack without a dense bottleneck when `codings` is `None` on images.
///
/// - Images (`h, w > 1`): three stages of a 3×3 convolution (16, 32, 64
///   filters) and 2×2 max pooling, then three stride-2 transposed
///   convolutions (32, 16, channels) back, each `same` where it doubles
///   the size and `valid` where it gives twice plus one (7 → 3 → 7 for
///   Fashion-MNIST). With `codings`, a dense bottleneck of that width sits
///   between them.
/// - Sensor windows (`h = 1`): two 1-D convolutions of kernel 5 (16, 32
///   filters), stride 2 as often as the window length is divisible by 2
///   (at most twice), a dense bottleneck of `codings` values, and the
///   mirror image back with transposed convolutions.
pub fn default_arch(input: MapShape, codings: Option<usize>) -> Result<String> {
    if input.h > 1 && input.w > 1 {
        let mut sizes = vec![(input.h, input.w)];
        for _ in 0..3 {
            let (h, w) = sizes[sizes.len() - 1];
            ensure!(
                h >= 2 && w >= 2,
                "images of {}×{} are too small for three 2×2 poolings: give --arch",
                input.h,
                input.w
            );
            sizes.push((h / 2, w / 2));
        }
        let mut decoder = Vec::new();
        for (k, filters) in [(3, 32), (2, 16), (1, input.c)] {
            let (h, w) = sizes[k];
            let (th, tw) = sizes[k - 1];
            let pad = if th == 2 * h && tw == 2 * w {
                ""
            } else if th == 2 * h + 1 && tw == 2 * w + 1 {
                "v"
            } else {
                bail!(
                    "no stride-2 transposed convolution takes {h}×{w} back to {th}×{tw}: give --arch"
                )
            };
            decoder.push(format!("t{filters}k3s2{pad}"));
        }
        let (h, w) = sizes[3];
        let bottleneck = codings.map_or_else(String::new, |n| format!(",d{n}|d{}", h * w * 64));
        let sep = if bottleneck.is_empty() { "|" } else { "," };
        return Ok(format!(
            "c16k3,p2,c32k3,p2,c64k3,p2{bottleneck}{sep}{}",
            decoder.join(",")
        ));
    }
    let len = input.w;
    let stride = |k: u32| if len.is_multiple_of(1 << k) { 2 } else { 1 };
    let (s1, s2) = (stride(1), stride(2));
    let inner = len / s1 / s2;
    let codings = codings.unwrap_or_else(|| (input.len() / 8).clamp(2, 64));
    Ok(format!(
        "c16k5s{s1},c32k5s{s2},d{codings}|d{},t16k5s{s2},t{}k5s{s1}",
        inner * 32,
        input.c
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXTBOOK: &str = "c16k3,p2,c32k3,p2,c64k3,p2|t32k3s2v,t16k3s2,t1k3s2:sigmoid";

    #[test]
    fn the_textbook_fashion_mnist_autoencoder() {
        let spec = parse(
            TEXTBOOK,
            MapShape::new(28, 28, 1),
            Activation::Identity,
            None,
        )
        .unwrap();
        assert_eq!(spec.layers.len(), 9);
        assert_eq!(spec.codings_layer, 5);
        assert_eq!(spec.codings_len(), 3 * 3 * 64);
        assert_eq!(spec.input_len(), 784);
        assert_eq!(spec.layers[8].activation(), Activation::Sigmoid);
        assert_eq!(spec.layers[0].activation(), Activation::Selu);
        let LayerSpec::ConvTranspose { spec: t, .. } = spec.layers[6] else {
            panic!("{:?}", spec.layers[6])
        };
        assert_eq!(t.output().unwrap(), MapShape::new(7, 7, 32));
        // The default for 28×28 images is the same network.
        let d = default_arch(MapShape::new(28, 28, 1), None).unwrap();
        assert_eq!(d, "c16k3,p2,c32k3,p2,c64k3,p2|t32k3s2v,t16k3s2,t1k3s2");
        let same = parse(&d, MapShape::new(28, 28, 1), Activation::Sigmoid, None).unwrap();
        assert_eq!(same, spec);
    }

    #[test]
    fn a_dense_bottleneck_and_the_inferred_reshape() {
        let d = default_arch(MapShape::new(28, 28, 1), Some(30)).unwrap();
        assert_eq!(
            d,
            "c16k3,p2,c32k3,p2,c64k3,p2,d30|d576,t32k3s2v,t16k3s2,t1k3s2"
        );
        let spec = parse(&d, MapShape::new(28, 28, 1), Activation::Sigmoid, None).unwrap();
        assert_eq!(spec.codings_len(), 30);
        assert_eq!(spec.codings_layer, 6);
        // An explicit reshape is the same network.
        let explicit = d.replace("d576,", "d576,r3x3x64,");
        assert_eq!(
            parse(
                &explicit,
                MapShape::new(28, 28, 1),
                Activation::Sigmoid,
                None
            )
            .unwrap(),
            spec
        );
    }

    #[test]
    fn sensor_windows_get_one_dimensional_defaults() {
        let input = MapShape::line(64, 3);
        let d = default_arch(input, Some(8)).unwrap();
        assert_eq!(d, "c16k5s2,c32k5s2,d8|d512,t16k5s2,t3k5s2");
        let spec = parse(&d, input, Activation::Identity, None).unwrap();
        assert_eq!(spec.codings_len(), 8);
        assert_eq!(spec.input_len(), 192);
        let LayerSpec::Conv { spec: c, .. } = spec.layers[0] else {
            panic!()
        };
        assert_eq!((c.kernel, c.stride), ((1, 5), (1, 2)));
        // Odd and singly-even windows fall back to stride 1 where needed.
        for w in [30, 33, 4, 1] {
            let input = MapShape::line(w, 2);
            let d = default_arch(input, Some(4)).unwrap();
            let spec = parse(&d, input, Activation::Identity, None)
                .unwrap_or_else(|e| panic!("window {w}: {d}: {e:#}"));
            assert_eq!(spec.input_len(), 2 * w, "{d}");
        }
    }

    fn err(arch: &str, input: MapShape) -> String {
        let e = parse(arch, input, Activation::Identity, None).unwrap_err();
        format!("{e:#}")
    }

    #[test]
    fn bad_strings_name_the_layer_and_the_shapes() {
        let img = MapShape::new(28, 28, 1);
        let e = err("c16k3,p2|t1k3s2,t1k3s2", img);
        assert!(
            e.contains("decoder ends on 56×56×1, the input is 28×28×1"),
            "{e}"
        );
        let e = err("c16k3,q2|t1k3s2", img);
        assert!(
            e.contains("layer 2 `q2`") && e.contains("unknown layer `q`"),
            "{e}"
        );
        let e = err("c16k3,p2,t1k3s2", img);
        assert!(e.contains("separated by one `|`"), "{e}");
        let e = err("c16k30v|t1k3", img);
        assert!(e.contains("layer 1 `c16k30v` on 28×28×1"), "{e}");
        let e = err("c16k3:soft|t1k3", img);
        assert!(e.contains("unknown activation `soft`"), "{e}");
        let e = err("c16kk3|t1k3", img);
        assert!(e.contains("kernel size"), "{e}");
        let e = err("d10|d300,r10x10x4,t1k3", img);
        assert!(
            e.contains("layer 3 `r10x10x4`") && e.contains("cannot reshape"),
            "{e}"
        );
        let e = err("p2:relu|u2,c1k3", img);
        assert!(e.contains("take no activation"), "{e}");
        let e = err("c4k3s2,d10|d36,c1k3", img);
        assert!(e.contains("needs a reshape"), "{e}");
        let e = err("c16k3|", img);
        assert!(e.contains("layer 2 ``"), "{e}");
    }
}
