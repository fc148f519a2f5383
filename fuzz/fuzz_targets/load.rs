//! `Model::load` on arbitrary bytes must never panic, and whatever it
//! accepts must run in the engine without panicking. Each input is tried
//! twice: as a whole file, and as a body behind a correct header and CRC,
//! so the fuzzer also explores everything past the checksum.
#![no_main]

use firmware::{Engine, Model};
use libfuzzer_sys::fuzz_target;
use model_format::{crc32, Header, FORMAT_VERSION};

fn run(bytes: &[u8]) {
    let Ok(model) = Model::load(bytes) else {
        return;
    };
    let need = Engine::scratch_len(&model);
    if need > 1 << 16 {
        return; // keep the fuzzer fast; validation already ran
    }
    let mut scratch = vec![0.0f32; need];
    if let Ok(mut engine) = Engine::new(&model, &mut scratch) {
        engine.input_mut().fill(0.5);
        let _ = engine.reconstruct();
        let _ = engine.encode();
        let _ = engine.decode();
    }
}

fuzz_target!(|data: &[u8]| {
    run(data);
    let header = Header {
        version: FORMAT_VERSION,
        body_len: data.len() as u32,
        body_crc: crc32(data),
    };
    let mut file = header.to_bytes().to_vec();
    file.extend_from_slice(data);
    run(&file);
});
