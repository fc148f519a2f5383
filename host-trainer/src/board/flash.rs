//! Writing a model file into a real board's model region
//! through a debug probe (probe-rs, behind the `flash` feature), then reads
//! it back to verify. Everything that can be refused is refused before a
//! probe is touched: an unknown chip, a model that does not load (including
//! one of another format version), or one that does not fit the region.

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use firmware::Model;

use model_format::{FORMAT_VERSION, MAGIC, MIN_FORMAT_VERSION};

/// Where a board keeps its model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// probe-rs chip name.
    pub chip: &'static str,
    /// The board crate whose memory.x defines the region.
    pub board: &'static str,
    /// First address.
    pub start: u64,
    /// Bytes.
    pub len: usize,
}

/// The boards edgeae has firmware for (their memory.x MODEL regions).
pub const REGIONS: &[Region] = &[
    Region {
        chip: "STM32F411RETx",
        board: "firmware/boards/stm32f411",
        start: 0x0806_0000,
        len: 128 * 1024,
    },
    Region {
        chip: "STM32F411CEUx",
        board: "firmware/boards/stm32f411",
        start: 0x0806_0000,
        len: 128 * 1024,
    },
];

/// The model region of `chip` (case-insensitive).
pub fn region_for(chip: &str) -> Result<Region> {
    REGIONS
        .iter()
        .find(|r| r.chip.eq_ignore_ascii_case(chip))
        .copied()
        .ok_or_else(|| {
            let known: Vec<&str> = REGIONS.iter().map(|r| r.chip).collect();
            anyhow!(
                "no edgeae firmware for chip `{chip}`; known chips: {}",
                known.join(", ")
            )
        })
}

/// Checks that `bytes` is a model the firmware reads and that it fits
/// `region`; the error names the file.
pub fn check(path: &Path, bytes: &[u8], region: &Region) -> Result<()> {
    let file = path.display();
    // The version is read before `Header::parse`, which would refuse an
    // unknown one with a less specific message.
    if let Some([m0, m1, m2, m3, v0, v1]) = bytes.first_chunk::<6>()
        && [*m0, *m1, *m2, *m3] == MAGIC
    {
        let version = u16::from_le_bytes([*v0, *v1]);
        if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            bail!(
                "`{file}` is model format version {version}; the firmware reads versions {MIN_FORMAT_VERSION} to {FORMAT_VERSION}: nothing was written"
            );
        }
    }
    Model::load(bytes)
        .map_err(|e| anyhow!("`{file}` is not a valid model: {e}; nothing was written"))?;
    if bytes.len() > region.len {
        bail!(
            "`{file}` is {} bytes; the model region of {} ({:#x}, {} bytes, see {}) is too small: nothing was written",
            bytes.len(),
            region.chip,
            region.start,
            region.len,
            region.board
        );
    }
    Ok(())
}

#[cfg(not(feature = "flash"))]
pub(crate) fn write_and_verify(
    _bytes: &[u8],
    _region: &Region,
    _probe: Option<&str>,
) -> Result<()> {
    bail!(
        "this edgeae was built without probe support (the model is valid and fits); rebuild with `cargo build --release -p edgeae --features flash`"
    )
}

#[cfg(feature = "flash")]
pub(crate) fn write_and_verify(bytes: &[u8], region: &Region, probe: Option<&str>) -> Result<()> {
    use anyhow::Context;
    use probe_rs::flashing::DownloadOptions;
    use probe_rs::probe::list::Lister;
    use probe_rs::{MemoryInterface, Permissions};

    let lister = Lister::new();
    let probes = lister.list_all();
    let info = match probe {
        Some(serial) => probes
            .iter()
            .find(|p| p.serial_number.as_deref() == Some(serial))
            .with_context(|| {
                format!("no debug probe with serial number `{serial}` is connected")
            })?,
        None => probes
            .first()
            .context("no debug probe is connected (plug in the board's ST-LINK)")?,
    };
    let probe = info
        .open()
        .map_err(|e| anyhow!("cannot open the debug probe: {e}"))?;
    let mut session = probe
        .attach(region.chip, Permissions::default())
        .map_err(|e| anyhow!("cannot attach to {}: {e}", region.chip))?;
    let mut loader = session.target().flash_loader();
    loader
        .add_data(region.start, bytes)
        .map_err(|e| anyhow!("cannot stage the model: {e}"))?;
    loader
        .commit(&mut session, DownloadOptions::default())
        .map_err(|e| anyhow!("writing flash failed: {e}"))?;
    let mut back = vec![0u8; bytes.len()];
    session
        .core(0)
        .map_err(|e| anyhow!("cannot reach the core: {e}"))?
        .read(region.start, &mut back)
        .map_err(|e| anyhow!("cannot read the model back: {e}"))?;
    if let Some(i) = back.iter().zip(bytes).position(|(a, b)| a != b) {
        bail!(
            "verification failed: byte {i} reads {:#04x}, {:#04x} was written",
            back[i],
            bytes[i]
        );
    }
    Ok(())
}
