//! Flash and RAM sizes of a firmware image, from its ELF section headers.

use anyhow::{Result, anyhow};

/// Sizes from an ELF32 file: (flash bytes = allocated sections that are
/// loaded, i.e. code, read-only data and the initial values of .data;
/// static RAM = .data + .bss + other allocated writable sections).
pub fn elf_sizes(bytes: &[u8]) -> Result<(u64, u64)> {
    let bad = || anyhow!("not a 32-bit little-endian ELF file");
    if bytes.get(..4) != Some(b"\x7fELF") || bytes.get(4) != Some(&1) || bytes.get(5) != Some(&1) {
        return Err(bad());
    }
    let u16_at = |o: usize| -> Result<u64> {
        Ok(u64::from(u16::from_le_bytes(
            bytes.get(o..o + 2).ok_or_else(bad)?.try_into()?,
        )))
    };
    let u32_at = |o: usize| -> Result<u64> {
        Ok(u64::from(u32::from_le_bytes(
            bytes.get(o..o + 4).ok_or_else(bad)?.try_into()?,
        )))
    };
    let shoff = u32_at(0x20)? as usize;
    let shentsize = u16_at(0x2e)? as usize;
    let shnum = u16_at(0x30)? as usize;
    let (mut flash, mut ram) = (0, 0);
    const SHF_WRITE: u64 = 1;
    const SHF_ALLOC: u64 = 2;
    const SHT_NOBITS: u64 = 8;
    for i in 0..shnum {
        let h = shoff + i * shentsize;
        let (kind, flags, size) = (u32_at(h + 4)?, u32_at(h + 8)?, u32_at(h + 0x14)?);
        if flags & SHF_ALLOC == 0 {
            continue;
        }
        if kind != SHT_NOBITS {
            flash += size;
        }
        if flags & SHF_WRITE != 0 {
            ram += size;
        }
    }
    Ok((flash, ram))
}
