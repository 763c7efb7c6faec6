//! The cached answers against a straightforward model, over random
//! partition lists, descriptor sizes, versions, UUIDs and flags.

use super::*;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What a reader of the spec expects: (count, w3, RX bytes) or an error.
fn model(
    sps: &[Sp],
    size: usize,
    v: Version,
    u: [u8; 16],
    flags: u64,
) -> Result<(usize, usize, Vec<u8>), i32> {
    let kept: Vec<&Sp> = sps.iter().filter(|s| s.id & 0x8000 != 0).collect();
    let nil = u == [0; 16];
    let hits: Vec<&&Sp> = kept.iter().filter(|s| nil || s.uuid == u).collect();
    if flags > 1 || (flags == 1 && v == Version::V1_0) {
        return Err(status::INVALID_PARAMETERS);
    }
    if !nil && hits.is_empty() {
        return Err(status::INVALID_PARAMETERS);
    }
    let me = v >= Version::V1_2 && nil;
    let count = hits.len() + usize::from(me);
    if flags == 1 {
        return Ok((count, 0, Vec::new()));
    }
    let dsize = if v == Version::V1_0 { 8 } else { size };
    if count * dsize > 4096 {
        return Err(status::NO_MEMORY);
    }
    let mut out = Vec::new();
    for s in hits {
        let mut d = descriptors(&[**s], size);
        if !nil {
            d[8..24].fill(0);
        }
        out.extend_from_slice(&d[..dsize]);
    }
    if me {
        let mut d = alloc::vec![0u8; dsize];
        d[0..2].copy_from_slice(&2u16.to_le_bytes());
        d[2..4].copy_from_slice(&2u16.to_le_bytes());
        d[4..8].copy_from_slice(&(abi::props::DIRECT_REQ_SEND | abi::props::AARCH64).to_le_bytes());
        out.extend_from_slice(&d);
    }
    Ok((count, if v == Version::V1_0 { 0 } else { dsize }, out))
}

#[test]
fn cached_answers_match_the_model() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..400 {
        let size = 24 + rng.below(48) as usize;
        let n = rng.below(12) as usize;
        let sps: Vec<Sp> = (0..n)
            .map(|_| Sp {
                id: if rng.below(5) == 0 {
                    rng.below(0x8000) as u16
                } else {
                    0x8000 | rng.below(0x8000) as u16
                },
                ctx: rng.below(8) as u16,
                props: rng.next() as u32,
                // Few distinct UUIDs, so that several partitions share one.
                uuid: uuid(rng.below(4) as u8),
            })
            .collect();
        let mut w = FakeWorld {
            sps: sps.clone(),
            desc_size: size,
            ..Default::default()
        };
        let mut m = mediator(&mut w);
        let v = [Version::V1_0, Version::V1_1, Version::V1_2][rng.below(3) as usize];
        ready(&mut m, &mut w, &caller(1), v);
        for _ in 0..10 {
            let u = match rng.below(3) {
                0 => [0; 16],
                1 => uuid(rng.below(4) as u8),
                _ => uuid(100 + rng.below(50) as u8),
            };
            let flags = [0, 0, 1, 2][rng.below(4) as usize];
            let [a, b, c, d] = core::array::from_fn(|i| {
                u64::from(u32::from_le_bytes(u[4 * i..4 * i + 4].try_into().unwrap()))
            });
            w.write_phys(RAM_PA + 0x1000, &[0x55; 4096]);
            let r = call(
                &mut m,
                &mut w,
                &caller(1),
                abi::PARTITION_INFO_GET,
                &[a, b, c, d, flags],
            );
            let want = model(&sps, size, v, u, flags);
            let ctx =
                alloc::format!("round {round}: size {size}, {v}, flags {flags}, sps {sps:x?}");
            match want {
                Err(e) => assert_eq!(code(&r), Some(e), "{ctx}"),
                Ok((count, w3, bytes)) => {
                    assert_eq!((r[2] as usize, r[3] as usize), (count, w3), "{ctx}");
                    assert_eq!(w.peek(RAM_PA + 0x1000, bytes.len()), bytes, "{ctx}");
                    if flags == 0 {
                        call(&mut m, &mut w, &caller(1), abi::RX_RELEASE, &[]);
                    }
                }
            }
        }
        assert_eq!(w.count(abi::PARTITION_INFO_GET), 1);
    }
}
