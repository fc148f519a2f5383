//! The figures drawn, decoded and checked pixel by pixel.

use std::fs;
use std::path::PathBuf;

use plotters::prelude::RGBColor;

use super::*;

/// A fresh, empty directory for one test. The plots stay there after
/// the run so they can be looked at (a later run replaces them).
fn test_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join("edgeae-plots-tests").join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Asserts `path` is a PNG of `w`x`h` pixels and returns its byte length.
fn assert_png(path: &Path, w: u32, h: u32) -> usize {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.len() > 24, "{}: too short", path.display());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |o: usize| u32::from_be_bytes(bytes[o..o + 4].try_into().unwrap());
    assert_eq!((be(16), be(20)), (w, h), "{}", path.display());
    bytes.len()
}

/// Pixels of exactly `colour` in the PNG at `path`.
fn pixels_of(path: &Path, colour: RGBColor) -> usize {
    pixels_where(path, |p| p == [colour.0, colour.1, colour.2])
}

/// Pixels of `colour` drawn with some opacity of at least 0.2 over
/// white (translucent points, and points drawn over each other).
fn pixels_blended(path: &Path, colour: RGBColor) -> usize {
    let c = [colour.0, colour.1, colour.2].map(f64::from);
    // The channel furthest from white tells the opacity best.
    let (k, _) = c.iter().enumerate().fold((0, -1.0), |best, (i, &v)| {
        if 255.0 - v > best.1 {
            (i, 255.0 - v)
        } else {
            best
        }
    });
    pixels_where(path, |p| {
        let a = (255.0 - f64::from(p[k])) / (255.0 - c[k]);
        (0.2..=1.01).contains(&a)
            && p.iter()
                .zip(&c)
                .all(|(&p, &c)| (f64::from(p) - (a * c + (1.0 - a) * 255.0)).abs() <= 4.0)
    })
}

fn pixels_where(path: &Path, keep: impl Fn([u8; 3]) -> bool) -> usize {
    let decoder = png::Decoder::new(fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("{}: colour type {other:?}", path.display()),
    };
    buf[..info.buffer_size()]
        .chunks_exact(step)
        .filter(|p| keep([p[0], p[1], p[2]]))
        .count()
}

/// Asserts that `dir` holds exactly the files `names` (no temporaries).
fn assert_only(dir: &Path, names: &[&str]) {
    let mut found: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(found, want);
}

fn curve(n: usize, f: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
    (0..n).map(|i| (i as f64, f(i as f64))).collect()
}

#[test]
fn find_font_takes_first_existing_file() {
    let dir = test_dir("font");
    let a = dir.join("a.ttf");
    let b = dir.join("b.ttf");
    fs::write(&b, b"x").unwrap();
    fs::write(&a, b"x").unwrap();
    let missing = dir.join("missing.ttf");
    assert_eq!(find_font(&[]), None);
    assert_eq!(find_font(std::slice::from_ref(&missing)), None);
    // A directory is not a font file.
    assert_eq!(find_font(std::slice::from_ref(&dir)), None);
    assert_eq!(
        find_font(&[missing.clone(), dir.clone(), b.clone(), a.clone()]),
        Some(b.clone())
    );
    assert_eq!(find_font(&[a.clone(), b]), Some(a));
}

#[test]
fn font_candidates_end_with_the_dejavu_paths() {
    let c = font_candidates();
    let tail: Vec<PathBuf> = FONT_PATHS.iter().map(PathBuf::from).collect();
    assert!(c.ends_with(&tail), "{c:?}");
    assert!(c.len() <= tail.len() + 1);
}

#[test]
fn font_is_found_when_dejavu_is_installed() {
    let dejavu = FONT_PATHS.iter().any(|p| Path::new(p).is_file());
    let env_set = std::env::var_os("EDGEAE_FONT").is_some_and(|v| !v.is_empty());
    if dejavu && !env_set {
        assert!(font_available());
    }
    // scripts/test installs fonts-dejavu-core: in CI the plots have text.
    if std::env::var_os("CI").is_some() {
        assert!(
            font_available(),
            "no font in CI: fonts-dejavu-core is missing"
        );
    }
}

#[test]
fn line_chart_writes_png() {
    let dir = test_dir("line");
    let train = curve(60, |e| 0.5 * (-e / 15.0).exp() + 0.02);
    let val = curve(60, |e| {
        0.55 * (-e / 14.0).exp() + 0.03 + 0.002 * (e * 0.7).sin()
    });
    let series = [
        Series {
            name: "training",
            points: &train,
        },
        Series {
            name: "validation",
            points: &val,
        },
    ];
    let p = dir.join("loss.png");
    line_chart(
        &p,
        "Loss (fashion-mnist, dense)",
        "epoch",
        "mean squared error",
        &series,
        false,
    )
    .unwrap();
    assert!(assert_png(&p, 900, 600) > 5_000);
    // Both curves are drawn: far more pixels of each series' colour
    // than its legend swatch has.
    for c in [PALETTE[0], PALETTE[1]] {
        let n = pixels_of(&p, c);
        assert!(n > 400, "{n} pixels of {c:?}");
    }
    // ... which a chart without data does not have.
    let empty = dir.join("empty.png");
    let none: [Series<'_>; 0] = [];
    line_chart(&empty, "no data", "epoch", "MSE", &none, false).unwrap();
    assert!(pixels_of(&empty, PALETTE[0]) < 100);
    fs::remove_file(&empty).unwrap();
    let q = dir.join("loss-log.png");
    line_chart(&q, "Loss (log)", "epoch", "MSE", &series, true).unwrap();
    assert_png(&q, 900, 600);
    // Overwriting works and leaves no temporary.
    line_chart(&q, "Loss (log)", "epoch", "MSE", &series, true).unwrap();
    assert_png(&q, 900, 600);
    assert_only(&dir, &["loss.png", "loss-log.png"]);
}

#[test]
fn line_chart_degenerate_inputs() {
    let dir = test_dir("line-degenerate");
    let nan = [
        (0.0, f64::NAN),
        (1.0, 0.5),
        (f64::INFINITY, 1.0),
        (3.0, 0.25),
        (4.0, 0.3),
    ];
    let single = [(3.0, 7.0)];
    let constant = curve(10, |_| 0.125);
    let zeros = curve(5, |_| 0.0);
    let all_nan = [(f64::NAN, f64::NAN); 3];
    let huge = [(0.0, -1e300), (1.0, 1e300), (2.0, 1e149), (3.0, -1e149)];
    let tiny = [(0.0, 5e-324), (1.0, 1e-320), (2.0, 1e-310)];
    let tiny_span = [(0.0, 1e-200), (1.0, 2e-200), (1e-200, 3e-200)];
    let negative = curve(5, |e| -e);
    let cases: Vec<(&str, Vec<Series<'_>>)> = vec![
        ("empty", vec![]),
        (
            "nan",
            vec![Series {
                name: "nan",
                points: &nan,
            }],
        ),
        (
            "single",
            vec![Series {
                name: "single",
                points: &single,
            }],
        ),
        (
            "constant",
            vec![Series {
                name: "",
                points: &constant,
            }],
        ),
        (
            "zeros",
            vec![Series {
                name: "zeros",
                points: &zeros,
            }],
        ),
        (
            "all-nan",
            vec![
                Series {
                    name: "all nan",
                    points: &all_nan,
                },
                Series {
                    name: "no points",
                    points: &[],
                },
            ],
        ),
        (
            "huge",
            vec![Series {
                name: "huge",
                points: &huge,
            }],
        ),
        (
            "tiny",
            vec![Series {
                name: "tiny",
                points: &tiny,
            }],
        ),
        (
            "tiny-span",
            vec![Series {
                name: "tiny span",
                points: &tiny_span,
            }],
        ),
        (
            "negative",
            vec![Series {
                name: "negative",
                points: &negative,
            }],
        ),
    ];
    let mut names = Vec::new();
    for (name, series) in &cases {
        for log_y in [false, true] {
            let file = format!("{name}-{log_y}.png");
            let p = dir.join(&file);
            line_chart(&p, name, "x", "y", series, log_y)
                .unwrap_or_else(|e| panic!("{file}: {e:#}"));
            assert_png(&p, 900, 600);
            names.push(file);
        }
    }
    // Many long names wrap the legend onto several rows.
    let pts = curve(3, |e| e);
    let names_long: Vec<String> = (0..14)
        .map(|i| format!("a rather long series name {i}"))
        .collect();
    let many: Vec<Series<'_>> = names_long
        .iter()
        .map(|n| Series {
            name: n,
            points: &pts,
        })
        .collect();
    let p = dir.join("many.png");
    line_chart(&p, "", "", "", &many, false).unwrap();
    assert_png(&p, 900, 600);
    names.push("many.png".into());
    // Far too many for the legend: it is cut to a third of the height.
    let names_many: Vec<String> = (0..300).map(|i| format!("series {i}")).collect();
    let too_many: Vec<Series<'_>> = names_many
        .iter()
        .map(|n| Series {
            name: n,
            points: &pts,
        })
        .collect();
    let p = dir.join("too-many.png");
    line_chart(&p, "too many", "x", "y", &too_many, true).unwrap();
    assert_png(&p, 900, 600);
    names.push("too-many.png".into());
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_only(&dir, &names);
}

#[test]
fn line_chart_without_text_draws() {
    // The drawing path used when no font is available.
    let dir = test_dir("line-notext");
    let pts = curve(20, |e| 1.0 / (e + 1.0));
    let series = [Series {
        name: "loss",
        points: &pts,
    }];
    for log_y in [false, true] {
        let p = dir.join(format!("{log_y}.png"));
        render(&p, (900, 600), |root| {
            draw_line_chart(root, "t", "x", "y", &series, log_y, false)
        })
        .unwrap();
        assert_png(&p, 900, 600);
    }
    assert_only(&dir, &["false.png", "true.png"]);
}

#[test]
fn errors_name_the_file_and_leave_nothing() {
    let dir = test_dir("errors");
    let p = dir.join("missing-dir").join("x.png");
    let err = line_chart(&p, "t", "x", "y", &[], false).unwrap_err();
    assert!(format!("{err:#}").contains("x.png"), "{err:#}");
    // A failure while drawing removes the temporary the backend writes.
    let q = dir.join("y.png");
    let err = render(&q, (10, 10), |_| bail!("boom")).unwrap_err();
    assert!(format!("{err:#}").contains("y.png"), "{err:#}");
    assert!(format!("{err:#}").contains("boom"), "{err:#}");
    let err = image_grid(&q, "", &[vec![&[0.0f32; 3][..]]], &[], 2, 2, 1).unwrap_err();
    assert!(format!("{err:#}").contains("y.png"), "{err:#}");
    let err = signal_panels(&q, "", &[], 0).unwrap_err();
    assert!(format!("{err:#}").contains("y.png"), "{err:#}");
    let err = image_grid(&q, "", &[vec![&[][..]]], &[], usize::MAX, 0, 3).unwrap_err();
    assert!(format!("{err:#}").contains("y.png"), "{err:#}");
    let err = render(&q, (100_000, 100_000), |_| Ok(())).unwrap_err();
    assert!(format!("{err:#}").contains("too large"), "{err:#}");
    assert_only(&dir, &[]);
}

#[test]
fn image_grid_layout_without_text() {
    let dir = test_dir("grid-plain");
    let img = [0.0f32, 1.0, 1.0, 0.0];
    let p = dir.join("one.png");
    image_grid(&p, "", &[vec![&img[..]]], &[""], 2, 2, 1).unwrap();
    // 1 gap + 2 px + 1 gap each way.
    let len = assert_png(&p, 4, 4);
    assert!(len > 60, "{len}");
    // cols*(w*s+1)+1 by rows*(h*s+1)+1, the longest row counts.
    let a = [0.5f32; 6]; // 3 wide, 2 high
    let rows = vec![vec![&a[..], &a[..], &a[..]], vec![&a[..]]];
    let q = dir.join("grid.png");
    image_grid(&q, "", &rows, &[], 3, 2, 4).unwrap();
    assert_png(&q, 3 * (3 * 4 + 1) + 1, 2 * (2 * 4 + 1) + 1);
    assert_eq!(
        GridLayout::new("", &rows, &[], 3, 2, 4, false).unwrap(),
        GridLayout {
            canvas_w: 40,
            canvas_h: 19,
            top: 0,
            left: 0,
            cell_w: 12,
            cell_h: 8,
            scale: 4,
            title_size: 20,
            row_title_size: 10,
        }
    );
    // Titles are not drawn (nor make room) without a font.
    let l = GridLayout::new("title", &rows, &["a", "b"], 3, 2, 4, false).unwrap();
    assert_eq!((l.canvas_w, l.canvas_h, l.top, l.left), (40, 19, 0, 0));
    assert_only(&dir, &["one.png", "grid.png"]);
}

#[test]
fn image_grid_with_titles() {
    let dir = test_dir("grid-titles");
    // A 28x28 "digit": a ring, plus its noisy reconstruction.
    let ring: Vec<f32> = (0..28 * 28)
        .map(|i| {
            let (x, y) = ((i % 28) as f32 - 13.5, (i / 28) as f32 - 13.5);
            let r = (x * x + y * y).sqrt();
            (1.0 - (r - 8.0).abs() / 3.0).clamp(0.0, 1.0)
        })
        .collect();
    let recon: Vec<f32> = ring
        .iter()
        .enumerate()
        .map(|(i, v)| v * 0.8 + 0.1 * ((i * 7919 % 13) as f32 / 13.0))
        .collect();
    let mut odd = recon.clone();
    odd[0] = f32::NAN;
    odd[29] = 2.0;
    odd[30] = -1.0;
    let rows = vec![
        vec![&ring[..]; 8],
        vec![
            &recon[..],
            &odd[..],
            &recon[..],
            &recon[..],
            &recon[..],
            &recon[..],
            &recon[..],
            &recon[..],
        ],
    ];
    let p = dir.join("recon.png");
    image_grid(
        &p,
        "Fashion-MNIST: originals / reconstructions",
        &rows,
        &["original", "reconstruction"],
        28,
        28,
        3,
    )
    .unwrap();
    let l = GridLayout::new(
        "Fashion-MNIST: originals / reconstructions",
        &rows,
        &["original", "reconstruction"],
        28,
        28,
        3,
        font_available(),
    )
    .unwrap();
    let grid_w = l.left + 8 * (28 * 3 + 1) + 1;
    assert!(l.canvas_w >= grid_w);
    assert_eq!(l.canvas_h, l.top + 2 * (28 * 3 + 1) + 1);
    if font_available() {
        assert!(l.top > 0 && l.left > 0, "{l:?}");
    }
    assert_png(&p, l.canvas_w, l.canvas_h);
    // A long title over a narrow grid widens the canvas.
    let q = dir.join("narrow.png");
    image_grid(
        &q,
        "a title much wider than one image",
        &rows[..1]
            .iter()
            .map(|r| r[..1].to_vec())
            .collect::<Vec<_>>(),
        &["x"],
        28,
        28,
        1,
    )
    .unwrap();
    if font_available() {
        let l = GridLayout::new(
            "a title much wider than one image",
            &[vec![&ring[..]]],
            &["x"],
            28,
            28,
            1,
            true,
        )
        .unwrap();
        assert!(l.canvas_w > l.left + 30);
        assert_png(&q, l.canvas_w, l.canvas_h);
    }
    assert_only(&dir, &["recon.png", "narrow.png"]);
}

#[test]
fn image_grid_degenerate_inputs() {
    let dir = test_dir("grid-degenerate");
    let p = dir.join("empty.png");
    image_grid(&p, "", &[], &[], 28, 28, 3).unwrap();
    assert_png(&p, 1, 1);
    let q = dir.join("empty-rows.png");
    image_grid(&q, "", &[vec![], vec![]], &["a", "b", "c"], 28, 28, 3).unwrap();
    let l = GridLayout::new(
        "",
        &[vec![], vec![]],
        &["a", "b", "c"],
        28,
        28,
        3,
        font_available(),
    )
    .unwrap();
    assert_png(&q, l.canvas_w, l.canvas_h);
    let r = dir.join("zero-size.png");
    image_grid(&r, "", &[vec![&[][..], &[][..]]], &[], 0, 5, 0).unwrap();
    assert_png(&r, 3, 2);
    assert_only(&dir, &["empty.png", "empty-rows.png", "zero-size.png"]);
}

#[test]
fn signal_panels_write_png() {
    let dir = test_dir("signal");
    let (steps, ch) = (128, 3);
    let orig: Vec<f32> = (0..steps * ch)
        .map(|i| {
            let (t, c) = ((i / ch) as f32, (i % ch) as f32);
            (t / 10.0 + c).sin() * (1.0 + c)
        })
        .collect();
    let recon: Vec<f32> = orig
        .iter()
        .enumerate()
        .map(|(i, v)| v * 0.9 + 0.05 * (i % 5) as f32)
        .collect();
    let windows: Vec<(&[f32], &[f32])> = vec![(&orig, &recon); 5];
    let p = dir.join("signals.png");
    signal_panels(&p, "Accelerometer windows", &windows, ch).unwrap();
    let text = font_available();
    let h = signal_canvas_height("Accelerometer windows", 4, ch, text).unwrap();
    assert_png(&p, 900, h);
    let q = dir.join("one.png");
    signal_panels(&q, "", &windows[..1], ch).unwrap();
    assert_png(&q, 900, signal_canvas_height("", 1, ch, text).unwrap());
    // Margins and 200 px panels, plus title and legend bands with a font.
    assert_eq!(signal_canvas_height("t", 3, 2, false).unwrap(), 8 + 3 * 200);
    if text {
        let with_title = signal_canvas_height("t", 1, 3, true).unwrap();
        let without = signal_canvas_height("", 1, 3, true).unwrap();
        assert!(without > 8 + 200 && with_title > without);
        // Sixteen channels wrap the legend onto a second row.
        assert!(signal_canvas_height("", 1, 16, true).unwrap() > without);
    }
    assert_only(&dir, &["signals.png", "one.png"]);
}

#[test]
fn signal_panels_degenerate_inputs() {
    let dir = test_dir("signal-degenerate");
    let nan = [0.0f32, f32::NAN, 1.0, 2.0, f32::INFINITY, 0.5, 0.25];
    let constant = [3.0f32; 12];
    let single = [1.0f32, 2.0];
    type Case<'a> = (&'a str, Vec<(&'a [f32], &'a [f32])>, usize);
    let cases: Vec<Case<'_>> = vec![
        ("empty", vec![], 1),
        ("nan", vec![(&nan, &constant)], 1),
        ("nan2", vec![(&nan, &nan)], 2),
        ("constant", vec![(&constant, &constant)], 3),
        ("single", vec![(&single, &single)], 2),
        ("short", vec![(&single, &[])], 3),
        ("many-channels", vec![(&constant, &constant)], 12),
        ("sixteen-channels", vec![(&constant, &constant)], 16),
    ];
    let mut names = Vec::new();
    for (name, windows, ch) in &cases {
        let file = format!("{name}.png");
        let p = dir.join(&file);
        signal_panels(&p, name, windows, *ch).unwrap_or_else(|e| panic!("{file}: {e:#}"));
        let n = windows.len().clamp(1, 4) as u32;
        let h = signal_canvas_height(name, n, *ch, font_available()).unwrap();
        assert_png(&p, 900, h);
        names.push(file);
    }
    // Without text.
    let p = dir.join("notext.png");
    render(&p, (900, 400), |root| {
        draw_signal_panels(
            root,
            "t",
            &[(&nan, &constant), (&single, &single)],
            1,
            false,
        )
    })
    .unwrap();
    assert_png(&p, 900, 400);
    names.push("notext.png".into());
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_only(&dir, &names);
}

#[test]
fn scatter_writes_png() {
    let dir = test_dir("scatter");
    let points: Vec<(f64, f64)> = (0..1000)
        .map(|i| {
            let k = (i % 10) as f64;
            let a = k / 10.0 * std::f64::consts::TAU;
            let r = 3.0 + ((i * 37 % 100) as f64 / 100.0);
            (
                r * a.cos() + (i % 7) as f64 * 0.1,
                r * a.sin() - (i % 3) as f64 * 0.1,
            )
        })
        .collect();
    let mut labels: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
    labels[3] = 200;
    let p = dir.join("codes.png");
    scatter(&p, "Codings (2-D)", &points, Some(&labels), None).unwrap();
    assert_png(&p, 900, 700);
    // Points of several labels are drawn in their colours.
    let counts: Vec<usize> = PALETTE.iter().map(|&c| pixels_blended(&p, c)).collect();
    assert!(
        counts.iter().all(|&n| n > 300),
        "pixels per label colour: {counts:?}"
    );
    // Without labels, the points share one colour.
    let q0 = dir.join("unlabelled.png");
    scatter(&q0, "Codings", &points, None, None).unwrap();
    let counts: Vec<usize> = PALETTE.iter().map(|&c| pixels_blended(&q0, c)).collect();
    assert_eq!(counts.iter().filter(|&&n| n > 300).count(), 1, "{counts:?}");
    let q = dir.join("unlabelled.png");
    scatter(&q, "Codings", &points, None, None).unwrap();
    assert_png(&q, 900, 700);
    assert_only(&dir, &["codes.png", "unlabelled.png"]);
}

#[test]
fn scatter_draws_thumbnails_where_they_do_not_overlap() {
    let dir = test_dir("scatter-thumbs");
    // Two groups of 50 points, each group on one spot: one image a group.
    let points: Vec<(f64, f64)> = (0..100)
        .map(|i| if i % 2 == 0 { (0.0, 0.0) } else { (10.0, 10.0) })
        .collect();
    let labels: Vec<u8> = (0..100).map(|i| (i % 2) as u8).collect();
    // 6x4 images.
    let six_by_four = |pixels| Thumbnails {
        pixels,
        width: 6,
        height: 4,
    };
    // All black (1.0).
    let pixels = vec![1.0f32; 100 * 24];
    let p = dir.join("thumbs.png");
    // The groups sit at the edges of the plot: inside, with the margin.
    let n = scatter(&p, "t", &points, Some(&labels), Some(six_by_four(&pixels))).unwrap();
    assert_eq!(n, 2);
    assert_png(&p, 900, 700);
    // Two images of 24 black pixels each, over what the plot has without.
    let bare = dir.join("bare.png");
    assert_eq!(
        scatter(&bare, "t", &points, Some(&labels), None).unwrap(),
        0
    );
    let black = RGBColor(0, 0, 0);
    assert_eq!(pixels_of(&p, black), pixels_of(&bare, black) + 48);
    // Spread-out points: many images, at most MAX_THUMBNAILS.
    let spread: Vec<(f64, f64)> = (0..400)
        .map(|i| (f64::from(i % 20), f64::from(i / 20)))
        .collect();
    let pixels = vec![0.5f32; 400 * 24];
    let q = dir.join("many.png");
    let n = scatter(&q, "t", &spread, None, Some(six_by_four(&pixels))).unwrap();
    assert_eq!(n, MAX_THUMBNAILS);
    // Images for only the first 3 points.
    let r = dir.join("few.png");
    let n = scatter(&r, "t", &spread, None, Some(six_by_four(&pixels[..72]))).unwrap();
    assert_eq!(n, 3);
    assert_only(&dir, &["thumbs.png", "bare.png", "many.png", "few.png"]);
}

#[test]
fn signal_figure_has_a_panel_per_entry() {
    let dir = test_dir("signal-figure");
    let a = [0.0f32, 1.0, 2.0, 1.0, 0.0, -1.0];
    let captions: Vec<String> = (0..20).map(|i| format!("unit {i}")).collect();
    let panels: Vec<SignalPanel<'_>> = captions
        .iter()
        .map(|c| SignalPanel {
            caption: c,
            solid: &a,
            dashed: &[],
        })
        .collect();
    let text = font_available();
    let lines = Lines {
        solid: "weights",
        dashed: "",
    };
    let p = dir.join("six.png");
    signal_figure(&p, "w", &panels[..6], 2, ("weights", "")).unwrap();
    assert_png(&p, 900, figure_height("w", 6, 2, lines, text).unwrap());
    // At most MAX_SIGNAL_PANELS panels.
    let q = dir.join("many.png");
    signal_figure(&q, "w", &panels, 2, ("weights", "")).unwrap();
    let h = figure_height("w", MAX_SIGNAL_PANELS as u32, 2, lines, text).unwrap();
    assert_png(&q, 900, h);
    assert!(signal_figure(&q, "w", &panels, 0, ("", "")).is_err());
    if text {
        // One legend entry fewer than the reconstruction figures: the
        // same rows here, so the same height.
        assert_eq!(
            figure_height("w", 1, 2, lines, true).unwrap(),
            signal_canvas_height("w", 1, 2, true).unwrap()
        );
    }
    assert_only(&dir, &["six.png", "many.png"]);
}

#[test]
fn scatter_degenerate_inputs() {
    let dir = test_dir("scatter-degenerate");
    type Case = (&'static str, Vec<(f64, f64)>, Option<Vec<u8>>);
    let cases: Vec<Case> = vec![
        ("empty", vec![], None),
        ("empty-labels", vec![], Some(vec![])),
        ("single", vec![(1.0, 2.0)], Some(vec![3])),
        (
            "nan",
            vec![
                (f64::NAN, 1.0),
                (1.0, f64::INFINITY),
                (0.0, 0.0),
                (1.0, 1.0),
            ],
            Some(vec![1, 2]),
        ),
        ("constant", vec![(5.0, 5.0); 10], Some(vec![0; 20])),
        ("tiny", vec![(5e-324, 0.0), (1e-310, 1e-200)], None),
        ("all-nan", vec![(f64::NAN, f64::NAN); 4], Some(vec![1; 4])),
    ];
    let mut names = Vec::new();
    for (name, points, labels) in &cases {
        let file = format!("{name}.png");
        let p = dir.join(&file);
        scatter(&p, name, points, labels.as_deref(), None)
            .unwrap_or_else(|e| panic!("{file}: {e:#}"));
        assert_png(&p, 900, 700);
        names.push(file);
    }
    let p = dir.join("notext.png");
    render(&p, (900, 700), |root| {
        draw_scatter(
            root,
            "t",
            &[(0.0, 0.0), (1.0, 2.0)],
            Some(&[1, 2]),
            None,
            false,
        )?;
        Ok(())
    })
    .unwrap();
    assert_png(&p, 900, 700);
    names.push("notext.png".into());
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_only(&dir, &names);
}

/// A realistic `edgeae eval` input: `windows` windows of 64 rows, hop 4,
/// log-normal noise, four labelled segments with bumps of `gain` times
/// their own size (the second too weak to detect), a run of fault
/// windows, EWMA smoothing and alarm hysteresis.
struct EvalExample {
    scores: Vec<(f64, f64)>,
    smoothed: Vec<(f64, f64)>,
    segments: Vec<Range<usize>>,
    alarms: Vec<Range<usize>>,
    roc: Vec<(f64, f64)>,
    auc: f64,
    threshold: f64,
    clear: f64,
}

fn eval_example(windows: usize, gain: f64) -> EvalExample {
    use crate::score::metrics;
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (len, hop) = (64, 4);
    let rows = (windows.max(1) - 1) * hop + len;
    let at = |pct: usize| rows * pct / 100;
    let segments = vec![
        at(15)..at(15) + 180,
        at(40)..at(40) + 60,
        at(62)..at(62) + 400,
        at(85)..at(85) + 120,
    ];
    let bumps = [1.0, 0.01, 2.5, 0.6];
    let (threshold, clear) = (0.045, 0.035);
    let mut records = Vec::with_capacity(windows);
    let mut labels = Vec::with_capacity(windows);
    let (mut ewma, mut alarm) = (f64::NAN, false);
    let (mut scores, mut smoothed) = (Vec::new(), Vec::new());
    for i in 0..windows {
        let (start, end) = (i * hop, i * hop + len);
        let normal: f64 = {
            let (u, v): (f64, f64) = (rng.gen_range(1e-12..1.0), rng.gen_range(0.0..1.0));
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let mut score = 0.02 * (0.35 * normal).exp();
        let mut label = 0;
        for (seg, bump) in segments.iter().zip(bumps) {
            let overlap = end.min(seg.end).saturating_sub(start.max(seg.start));
            if overlap > 0 {
                label = 1;
                score += gain * bump * overlap as f64 / len as f64;
            }
        }
        let fault = (windows / 2..windows / 2 + 12).contains(&i) || i % 997 == 500;
        if fault {
            score = f64::NAN;
        } else {
            ewma = if ewma.is_nan() {
                score
            } else {
                0.85 * ewma + 0.15 * score
            };
            if ewma > threshold {
                alarm = true;
            } else if ewma < clear {
                alarm = false;
            }
        }
        scores.push((end as f64, score));
        smoothed.push((end as f64, ewma));
        labels.push(label);
        records.push(metrics::WindowRecord {
            start,
            end,
            score: score as f32,
            alarm,
            fault,
        });
    }
    let f32_scores: Vec<f32> = records.iter().map(|r| r.score).collect();
    let roc = metrics::roc_curve(&f32_scores, &labels).unwrap_or_default();
    let auc = metrics::roc_auc(&f32_scores, &labels).unwrap_or(f64::NAN);
    EvalExample {
        scores,
        smoothed,
        segments,
        alarms: metrics::alarm_spans(&records),
        roc,
        auc,
        threshold,
        clear,
    }
}

impl EvalExample {
    fn plot<'a>(&'a self, title: &'a str, roc: bool) -> EvalPlot<'a> {
        EvalPlot {
            title,
            scores: &self.scores,
            smoothed: &self.smoothed,
            threshold: self.threshold,
            clear_threshold: self.clear,
            segments: &self.segments,
            alarms: &self.alarms,
            roc: roc.then_some((&self.roc[..], self.auc)),
            baseline_roc: None,
        }
    }
}

#[test]
fn eval_figure_writes_png() {
    let dir = test_dir("eval");
    // Large bumps: the scores span over two decades, a log axis.
    let ex = eval_example(3000, 1.0);
    assert!(eval_log_y(&ex.scores, &ex.smoothed));
    assert!(ex.auc > 0.8 && ex.auc < 1.0, "{}", ex.auc);
    assert!(!ex.alarms.is_empty());
    let p = dir.join("eval.png");
    eval_figure(&p, &ex.plot("eval: sensor-7 (dense AE)", true)).unwrap();
    assert!(assert_png(&p, 1200, 900) > 20_000);
    // The score, the smoothed score and the threshold are drawn.
    for c in [SCORE_COLOUR, SMOOTHED_COLOUR, THRESHOLD_COLOUR] {
        let n = pixels_of(&p, c);
        assert!(n > 1_000, "{n} pixels of {c:?}");
    }
    // Small bumps: a linear axis.
    let mild = eval_example(3000, 0.05);
    assert!(!eval_log_y(&mild.scores, &mild.smoothed));
    let q = dir.join("eval-linear.png");
    eval_figure(&q, &mild.plot("eval: linear axis", true)).unwrap();
    assert_png(&q, 1200, 900);
    // No labels: a note instead of the ROC curve.
    let r = dir.join("eval-unlabelled.png");
    eval_figure(&r, &ex.plot("eval: no labels", false)).unwrap();
    assert_png(&r, 1200, 900);
    // Overwriting works and leaves no temporary.
    eval_figure(&r, &ex.plot("eval: no labels", false)).unwrap();
    assert_png(&r, 1200, 900);
    assert_only(
        &dir,
        &["eval.png", "eval-linear.png", "eval-unlabelled.png"],
    );
}

// Ranges here are row spans (data), some reversed or empty on purpose.
#[allow(clippy::single_range_in_vec_init, clippy::reversed_empty_ranges)]
#[test]
fn eval_figure_degenerate_inputs() {
    let dir = test_dir("eval-degenerate");
    let all_nan = curve(50, |_| f64::NAN);
    let nan_x = [(f64::NAN, 1.0), (f64::INFINITY, 2.0), (3.0, 0.5)];
    let single = [(10.0, 0.3)];
    let constant = curve(100, |_| 0.25);
    let zeros = curve(100, |_| 0.0);
    let huge = [(0.0, -1e300), (1.0, 1e300), (2.0, 1e149), (3.0, 1e-149)];
    let wide = curve(200, |x| {
        if (x as usize).is_multiple_of(50) {
            0.0
        } else {
            1e-3 * (x + 1.0)
        }
    });
    let roc = [(0.0, 0.0), (0.2, 0.7), (1.0, 1.0)];
    let bad_roc = [(f64::NAN, 0.0), (2.0, -1.0), (0.5, f64::INFINITY)];
    let base = EvalPlot {
        title: "",
        scores: &[],
        smoothed: &[],
        threshold: f64::INFINITY,
        clear_threshold: f64::INFINITY,
        segments: &[],
        alarms: &[],
        roc: None,
        baseline_roc: None,
    };
    let odd_segments = [9..2, 5..5, 40..60, 1_000_000..1_000_010, 0..1, 3..4];
    let cases: Vec<(&str, EvalPlot<'_>)> = vec![
        ("empty", base),
        (
            "empty-with-roc",
            EvalPlot {
                title: "empty",
                roc: Some((&[], f64::NAN)),
                baseline_roc: None,
                ..base
            },
        ),
        (
            "all-nan",
            EvalPlot {
                title: "all NaN",
                scores: &all_nan,
                smoothed: &all_nan,
                threshold: 0.5,
                clear_threshold: 0.4,
                segments: &[10..20],
                alarms: &[5..30],
                roc: Some((&roc, 0.5)),
                baseline_roc: None,
            },
        ),
        (
            "nan-x",
            EvalPlot {
                scores: &nan_x,
                smoothed: &single,
                threshold: f64::NAN,
                clear_threshold: f64::NEG_INFINITY,
                ..base
            },
        ),
        (
            "single",
            EvalPlot {
                scores: &single,
                smoothed: &single,
                segments: &[10..11],
                alarms: &[10..10],
                ..base
            },
        ),
        (
            "constant",
            EvalPlot {
                scores: &constant,
                smoothed: &constant,
                threshold: 0.25,
                clear_threshold: 0.25,
                alarms: &[0..100],
                roc: Some((&bad_roc, 2.0)),
                baseline_roc: None,
                ..base
            },
        ),
        (
            "zeros",
            EvalPlot {
                scores: &zeros,
                smoothed: &zeros,
                threshold: 0.0,
                clear_threshold: -1.0,
                ..base
            },
        ),
        (
            "huge",
            EvalPlot {
                scores: &huge,
                smoothed: &huge,
                threshold: 1e200,
                clear_threshold: -1e200,
                ..base
            },
        ),
        (
            "log-with-zeros",
            EvalPlot {
                scores: &wide,
                smoothed: &wide,
                threshold: 0.05,
                clear_threshold: -0.01,
                segments: &odd_segments,
                alarms: &[150..140, 60..70, 199..199, 500..2000],
                roc: Some((&roc, 0.8)),
                baseline_roc: None,
                ..base
            },
        ),
    ];
    let mut names = Vec::new();
    for (name, plot) in &cases {
        let file = format!("{name}.png");
        let p = dir.join(&file);
        eval_figure(&p, plot).unwrap_or_else(|e| panic!("{file}: {e:#}"));
        assert_png(&p, 1200, 900);
        names.push(file);
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_only(&dir, &names);
}

#[test]
fn eval_figure_without_text_draws() {
    // The drawing path used when no font is available.
    let dir = test_dir("eval-notext");
    let ex = eval_example(400, 1.0);
    for (name, roc) in [("roc.png", true), ("no-roc.png", false)] {
        let p = dir.join(name);
        render(&p, (EVAL_W, EVAL_H), |root| {
            draw_eval_figure(root, &ex.plot("t", roc), false)
        })
        .unwrap();
        assert_png(&p, 1200, 900);
    }
    // Nothing but a title.
    let p = dir.join("empty.png");
    let plot = EvalPlot {
        title: "t",
        scores: &[],
        smoothed: &[],
        threshold: 1.0,
        clear_threshold: 0.5,
        segments: &[],
        alarms: &[],
        roc: None,
        baseline_roc: None,
    };
    render(&p, (EVAL_W, EVAL_H), |root| {
        draw_eval_figure(root, &plot, false)
    })
    .unwrap();
    assert_png(&p, 1200, 900);
    assert_only(&dir, &["roc.png", "no-roc.png", "empty.png"]);
    // Errors name the file.
    let err = eval_figure(&dir.join("missing").join("e.png"), &plot).unwrap_err();
    assert!(format!("{err:#}").contains("e.png"), "{err:#}");
}

// Ranges here are row spans (data), some reversed or empty on purpose.
#[allow(clippy::single_range_in_vec_init, clippy::reversed_empty_ranges)]
#[test]
fn eval_log_axis_needs_two_decades() {
    assert!(!eval_log_y(&[], &[]));
    assert!(!eval_log_y(&[(0.0, 0.01), (1.0, 1.0)], &[]));
    assert!(eval_log_y(&[(0.0, 0.01)], &[(1.0, 1.01)]));
    // Zeros, negatives and non-finite values do not count.
    assert!(!eval_log_y(
        &[
            (0.0, 0.0),
            (1.0, -5.0),
            (2.0, 1.0),
            (3.0, f64::NAN),
            (f64::NAN, 1e-9)
        ],
        &[(0.0, 2.0)]
    ));
    // Timeline x range: starts at row 0, covers segments and alarms.
    let plot = EvalPlot {
        title: "",
        scores: &[(64.0, 1.0), (1000.0, 2.0)],
        smoothed: &[],
        threshold: 1.0,
        clear_threshold: 0.5,
        segments: &[900..1200],
        alarms: &[],
        roc: None,
        baseline_roc: None,
    };
    assert_eq!(Timeline::new(&plot).x_range, 0.0..1200.0);
    // Far from 0: not stretched to it.
    let far = [(1e6, 1.0), (1.001e6, 2.0)];
    let plot = EvalPlot {
        scores: &far,
        segments: &[],
        ..plot
    };
    assert_eq!(Timeline::new(&plot).x_range, 1e6..1.001e6);
}

#[test]
fn number_formatting() {
    assert_eq!(fmt_decimal(0.5000, 3), "0.5");
    assert_eq!(fmt_decimal(-0.0001, 2), "0");
    assert_eq!(fmt_decimal(20.0, 0), "20");
    assert_eq!(fmt_scientific(1.5e-5, 3), "1.5e-5");
    assert_eq!(fmt_scientific(1e9, 2), "1e9");
    assert_eq!(log_label(&0.30000000000000004), "0.3");
    assert_eq!(log_label(&1e-5), "1e-5");
    assert_eq!(log_label(&100.0), "100");
    assert_eq!(log_label(&0.0), "");
    let f = linear_formatter(&(0.0..1.0));
    assert_eq!(f(&0.25), "0.25");
    let f = linear_formatter(&(0.0..1e7));
    assert_eq!(f(&2e6), "2e6");
    let f = linear_formatter(&(0.0..50.0));
    assert_eq!(f(&10.0), "10");
    let f = linear_formatter(&(-1e149..1e149));
    assert_eq!(f(&1.14e133), "0");
    assert_eq!(f(&5e148), "5e148");
}

fn log_axis_of(values: &[f64]) -> LogAxis {
    let mut b = Bounds::empty();
    for &v in values {
        b.add(v);
    }
    b.log_axis()
}

#[test]
fn log_axis_always_has_labelled_ticks() {
    let close = |a: &[f64], b: &[f64]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x / y - 1.0).abs() < 1e-9)
    };
    // A single value: 1..9 steps around it.
    let a = log_axis_of(&[0.3]);
    assert!(close(&a.bold, &[0.3, 0.4]), "{a:?}");
    // No 1..9 step inside: widened to the steps around it.
    let a = log_axis_of(&[0.31, 0.39]);
    assert!(close(&a.bold, &[0.3, 0.4]), "{a:?}");
    assert!((a.range.start - 0.3).abs() < 1e-12 && (a.range.end - 0.4).abs() < 1e-12);
    // A typical loss curve: 1-2-5 steps.
    let a = log_axis_of(&[0.02, 0.6]);
    assert!(close(&a.bold, &[0.02, 0.05, 0.1, 0.2, 0.5]), "{a:?}");
    // Several decades: powers of ten.
    let a = log_axis_of(&[1e-3, 1.0]);
    assert!(close(&a.bold, &[1e-3, 1e-2, 1e-1, 1.0]), "{a:?}");
    // Very many decades: at most about 9 labels.
    let a = log_axis_of(&[1e-100, 1e100]);
    assert!((2..=10).contains(&a.bold.len()), "{a:?}");
    for a in [
        log_axis_of(&[]),
        log_axis_of(&[1e-149]),
        log_axis_of(&[1e149]),
        log_axis_of(&[5e-324]),
        log_axis_of(&[5e-324, 1e149]),
    ] {
        assert!(a.range.start > 0.0 && a.range.end.is_finite(), "{a:?}");
        assert!(a.range.start < a.range.end, "{a:?}");
        assert!(a.bold.len() >= 2, "{a:?}");
    }
}

#[test]
fn bounds_pad_degenerate_ranges() {
    let mut b = Bounds::empty();
    assert_eq!(b.linear(0.05), 0.0..1.0);
    let a = b.log_axis();
    assert!(a.range.start < 0.1 && a.range.end > 1.0, "{a:?}");
    assert!(a.bold.len() >= 2, "{a:?}");
    b.add(0.0);
    let r = b.linear(0.05);
    assert!(r.start < 0.0 && r.end > 0.0);
    let mut b = Bounds::empty();
    b.add(-1e149);
    b.add(1e149);
    let r = b.linear(0.05);
    assert!(r.start.is_finite() && r.end.is_finite());
}
