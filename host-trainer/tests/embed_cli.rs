//! `edgeae embed` and `edgeae features` as a user runs them, on models
//! packed with known weights: the map keeps clusters' neighbourhoods, the
//! CSV has its columns, bad labels are one sentence, and the feature
//! pictures have the size their layout gives.

mod common;
use common::*;

use std::path::{Path, PathBuf};

/// Width and height of a PNG.
fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
    let be = |o: usize| u32::from_be_bytes(b[o..o + 4].try_into().unwrap());
    (be(16), be(20))
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&ok(out)).unwrap()
}

/// `edgeae embed --model M --data D --out MAP` and `extra`.
fn embed(model: &Path, data: &Path, map: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "embed",
        "--model",
        s(model),
        "--data",
        s(data),
        "--out",
        s(map),
    ];
    args.extend_from_slice(extra);
    edgeae(&args)
}

/// `edgeae features --model M --out OUT` and `extra`.
fn features(model: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["features", "--model", s(model), "--out", s(out)];
    args.extend_from_slice(extra);
    edgeae(&args)
}

/// A model file packed from `layers` (JSON) over `channels` x `window` inputs.
fn pack(dir: &Path, name: &str, channels: usize, window: usize, layers: &str) -> PathBuf {
    let spec = dir.join(format!("{name}.json"));
    let zeros = vec!["0"; channels].join(",");
    let ones = vec!["1"; channels].join(",");
    std::fs::write(
        &spec,
        format!(
            r#"{{"input": {{"channels": {channels}, "window": {window}, "hop": {window}, "mean": [{zeros}], "scale": [{ones}]}},
  "layers": [{layers}], "codings_layer": 0}}"#
        ),
    )
    .unwrap();
    let model = dir.join(format!("{name}.eam"));
    ok(&edgeae(&["pack", s(&spec), "--out", s(&model)]));
    model
}

/// A dense `inputs -> outputs` layer with fixed, varied weights, and the
/// tied layer back.
fn dense_tied(inputs: usize, outputs: usize) -> String {
    let w: Vec<String> = (0..inputs * outputs)
        .map(|i| format!("{:.3}", ((i * 37 % 23) as f64 - 11.0) / 11.0))
        .collect();
    format!(
        r#"{{"dense": {{"inputs": {inputs}, "outputs": {outputs}, "activation": "identity", "weights": [{}], "bias": [{}]}}}},
           {{"tied_dense": {{"source": 0, "activation": "identity", "bias": [{}]}}}}"#,
        w.join(","),
        vec!["0"; outputs].join(","),
        vec!["0"; inputs].join(",")
    )
}

/// Three well-separated clusters of 100 rows in 6-D, with a `state` column.
fn clusters(dir: &Path) -> (PathBuf, Vec<u32>) {
    let mut text = String::from("a,b,c,state,d,e,f\n");
    let mut states = Vec::new();
    for i in 0..300usize {
        let k = (i * 7) % 3;
        let v: Vec<String> = (0..6)
            .map(|d| {
                let centre = if d % 3 == k { 8.0 } else { 0.0 };
                let noise = ((i * 31 + d * 17) % 101) as f64 / 101.0 - 0.5;
                format!("{:.4}", centre + noise)
            })
            .collect();
        text.push_str(&format!(
            "{},{},{},{k},{},{},{}\n",
            v[0], v[1], v[2], v[3], v[4], v[5]
        ));
        states.push(k as u32);
    }
    let path = dir.join("clusters.csv");
    std::fs::write(&path, text).unwrap();
    (path, states)
}

/// `count` 8x8 IDX images of two kinds (bright top or bright bottom half)
/// and their IDX label file.
fn images(dir: &Path, count: usize) -> (PathBuf, PathBuf) {
    let mut img = vec![0, 0, 8, 3];
    for n in [count as u32, 8, 8] {
        img.extend_from_slice(&n.to_be_bytes());
    }
    let mut lab = vec![0, 0, 8, 1];
    lab.extend_from_slice(&(count as u32).to_be_bytes());
    for i in 0..count {
        let k = i % 2;
        for p in 0..64 {
            let top = p < 32;
            let bright = (top && k == 0) || (!top && k == 1);
            img.push(if bright {
                200 + (i * p % 50) as u8
            } else {
                (i * p % 40) as u8
            });
        }
        lab.push(k as u8);
    }
    let (ip, lp) = (dir.join("img.idx"), dir.join("lab.idx"));
    std::fs::write(&ip, img).unwrap();
    std::fs::write(&lp, lab).unwrap();
    (ip, lp)
}

#[test]
fn embed_keeps_the_neighbourhoods_of_separated_clusters() {
    let d = dir("embed-clusters");
    let (data, states) = clusters(&d);
    let model = pack(&d, "m", 6, 1, &dense_tied(6, 3));
    let (map, csv) = (d.join("map.png"), d.join("map.csv"));
    let v = json(&embed(
        &model,
        &data,
        &map,
        &["--labels", "state", "--csv", s(&csv), "--json"],
    ));
    assert_eq!(v["method"], "tsne");
    assert_eq!(
        (v["points"].as_u64(), v["classes"].as_u64()),
        (Some(300), Some(3))
    );
    let a = &v["agreement"];
    let (on_map, codings) = (a["map"].as_f64().unwrap(), a["codings"].as_f64().unwrap());
    assert!(codings > 0.95, "{a}");
    assert!(on_map >= 0.9 * codings, "{a}");
    assert!(
        (a["chance"].as_f64().unwrap() - 99.0 / 299.0).abs() < 1e-9,
        "{a}"
    );
    assert_eq!(png_size(&map), (900, 700));
    // CSV: x,y and the class column under its own name, a row per window.
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("x,y,state"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 300);
    for (row, k) in rows.iter().zip(&states) {
        assert!(row[0].parse::<f64>().unwrap().is_finite());
        assert!(row[1].parse::<f64>().unwrap().is_finite());
        assert_eq!(row[2], k.to_string());
    }

    // PCA, a sample of the windows, no labels: x,y only.
    let plain = d.join("plain.csv");
    let text: Vec<String> = std::fs::read_to_string(&data)
        .unwrap()
        .lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split(',').collect();
            f.remove(3);
            f.join(",")
        })
        .collect();
    std::fs::write(&plain, text.join("\n")).unwrap();
    let pca = [
        "--csv",
        s(&csv),
        "--method",
        "pca",
        "--limit",
        "50",
        "--json",
    ];
    let v = json(&embed(&model, &plain, &map, &pca));
    assert_eq!(
        (v["method"].as_str(), v["points"].as_u64()),
        (Some("pca"), Some(50))
    );
    assert!(v["agreement"].is_null());
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().next(), Some("x,y"));
    assert_eq!(text.lines().count(), 51);
}

#[test]
fn embed_draws_images_with_idx_labels() {
    let d = dir("embed-idx");
    let (img, lab) = images(&d, 60);
    let model = pack(&d, "m", 64, 1, &dense_tied(64, 4));
    let (map, csv) = (d.join("map.png"), d.join("map.csv"));
    let text = ok(&embed(&model, &img, &map, &["--labels-file", s(&lab)]));
    assert!(text.contains("10-NN class agreement: map"), "{text}");
    let labelled = ["--labels-file", s(&lab), "--csv", s(&csv), "--json"];
    let v = json(&embed(&model, &img, &map, &labelled));
    assert!(v["thumbnails"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["classes"], 2);
    let header = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(header.lines().next(), Some("x,y,label"));
}

#[test]
fn embed_bad_labels_are_one_sentence() {
    let d = dir("embed-bad");
    let (data, _) = clusters(&d);
    let model = pack(&d, "m", 6, 1, &dense_tied(6, 3));
    let map = d.join("map.png");
    let run = |extra: &[&str], data: &Path| embed(&model, data, &map, extra);
    fails_cleanly(&run(&["--labels", "kind"], &data), &["no column `kind`"]);
    let bad = d.join("bad.csv");
    let text = std::fs::read_to_string(&data).unwrap();
    std::fs::write(&bad, text.replacen(",2,", ",two,", 1)).unwrap();
    fails_cleanly(
        &run(&["--labels", "state"], &bad),
        &["bad.csv", "(`state`)", "`two` is not a whole number"],
    );
    std::fs::write(&bad, text.replacen(",1,", ",1.5,", 1)).unwrap();
    fails_cleanly(
        &run(&["--labels", "state"], &bad),
        &["`1.5` is not a whole number"],
    );
    // Without --labels the class column is a seventh channel.
    fails_cleanly(&run(&[], &data), &["expects 6 channels", "has 7"]);
    // IDX images have no columns; a label file must match the images.
    let (img, lab) = images(&d, 10);
    let m64 = pack(&d, "m64", 64, 1, &dense_tied(64, 4));
    let idx_run = |extra: &[&str]| embed(&m64, &img, &map, extra);
    fails_cleanly(&idx_run(&["--labels", "state"]), &["--labels-file"]);
    let (img20, _) = {
        let d20 = d.join("twenty");
        std::fs::create_dir_all(&d20).unwrap();
        images(&d20, 20)
    };
    fails_cleanly(
        &embed(&m64, &img20, &map, &["--labels-file", s(&lab)]),
        &["holds 10 labels", "has 20 rows"],
    );
    fails_cleanly(&idx_run(&["--labels-file", s(&img)]), &["not labels"]);
    fails_cleanly(&idx_run(&["--limit", "0"]), &["--limit"]);
    fails_cleanly(
        &run(&["--labels", "state", "--limit", "5"], &data),
        &["t-SNE needs at least 10 windows", "--method pca"],
    );
}

#[test]
fn features_of_a_dense_image_model() {
    let d = dir("features-image");
    let (img, _) = images(&d, 40);
    let model = pack(&d, "m", 64, 1, &dense_tied(64, 4));
    let out = d.join("f.png");
    let v = json(&features(
        &model,
        &out,
        &["--data", s(&img), "--units", "3", "--json"],
    ));
    assert_eq!(
        (v["units"].as_u64(), v["drawn_as"].as_str()),
        (Some(3), Some("image"))
    );
    assert_eq!(v["layer"], "dense 64 -> 4");
    assert_eq!(v["codings_units"].as_array().unwrap().len(), 3);
    // Three 8x8 images at 7 px a pixel in one row (gaps of 1 px), under a
    // title band.
    let (w, h) = png_size(&out);
    let grid_w = 3 * 57 + 1;
    assert!(w >= grid_w, "{w}");
    assert!((57 + 1 + 10..57 + 1 + 60).contains(&h), "{h}");
    // The top inputs: a row of 8 images for each of the 3 units.
    let (w, h) = png_size(&d.join("f-top.png"));
    let grid_w = 8 * 57 + 1;
    assert!(w >= grid_w, "{w}");
    assert!((3 * 57 + 1 + 10..3 * 57 + 1 + 60).contains(&h), "{h}");
    // Without data: only the weights.
    std::fs::remove_file(d.join("f-top.png")).unwrap();
    let v = json(&features(&model, &out, &["--json"]));
    assert_eq!(v["units"], 4);
    assert!(v["top"].is_null() && !d.join("f-top.png").exists());
}

#[test]
fn features_of_a_sensor_model() {
    let d = dir("features-sensor");
    let mut text = String::from("x,y\n");
    for i in 0..400 {
        let t = i as f64 / 10.0;
        text.push_str(&format!("{:.4},{:.4}\n", t.sin(), (t * 0.3).cos()));
    }
    let data = d.join("s.csv");
    std::fs::write(&data, text).unwrap();
    let model = pack(&d, "m", 2, 16, &dense_tied(32, 5));
    let out = d.join("f.png");
    let v = json(&features(&model, &out, &["--data", s(&data), "--json"]));
    assert_eq!(
        (v["units"].as_u64(), v["drawn_as"].as_str()),
        (Some(5), Some("signal"))
    );
    // 200 px a panel and 4 px margins, under a title and a legend.
    let (w, h) = png_size(&out);
    assert_eq!(w, 900);
    assert!((8 + 5 * 200..8 + 5 * 200 + 100).contains(&h), "{h}");
    let (w, h) = png_size(&d.join("f-top.png"));
    assert_eq!(w, 900);
    assert!((8 + 5 * 200..8 + 5 * 200 + 100).contains(&h), "{h}");
    // --units 2: two panels each.
    ok(&features(
        &model,
        &out,
        &["--data", s(&data), "--units", "2"],
    ));
    let (_, h) = png_size(&out);
    assert!((8 + 2 * 200..8 + 2 * 200 + 100).contains(&h), "{h}");
}

#[test]
fn features_of_a_conv_model_and_int8_refusal() {
    let d = dir("features-conv");
    // A 3x3 convolution of 8x8x1 images into 2 maps, then dense back.
    let conv_w: Vec<String> = (0..18)
        .map(|i| format!("{}", (i % 5) as f64 - 2.0))
        .collect();
    let dense_w = vec!["0.01"; 128 * 64].join(",");
    let layers = format!(
        r#"{{"conv": {{"shape": {{"h": 8, "w": 8, "c": 1}}, "filters": 2, "kernel": [3, 3], "stride": [1, 1], "padding": "same", "activation": "relu", "weights": [{}], "bias": [0, 0]}}}},
           {{"dense": {{"inputs": 128, "outputs": 64, "activation": "identity", "weights": [{dense_w}], "bias": [{}]}}}}"#,
        conv_w.join(","),
        vec!["0"; 64].join(",")
    );
    let model = pack(&d, "conv", 64, 1, &layers);
    let out = d.join("f.png");
    let v = json(&features(&model, &out, &["--json"]));
    assert_eq!(v["layer"], "conv 3x3, 2 filters");
    assert_eq!(
        (v["units"].as_u64(), v["drawn_as"].as_str()),
        (Some(2), Some("image"))
    );
    // Two 3x3 kernels at 18 px a pixel.
    let (w, h) = png_size(&out);
    let grid_w = 2 * 55 + 1;
    assert!(w >= grid_w, "{w}");
    assert!((55 + 1 + 10..55 + 1 + 60).contains(&h), "{h}");

    // int8: refused in one sentence.
    let (img, _) = images(&d, 40);
    let dense = pack(&d, "dense", 64, 1, &dense_tied(64, 4));
    let int8 = d.join("int8.eam");
    ok(&edgeae(&[
        "export",
        s(&dense),
        "--quant",
        "int8",
        "--calib",
        s(&img),
        "--out",
        s(&int8),
    ]));
    fails_cleanly(&features(&int8, &out, &[]), &["int8", "f32 model"]);
}
