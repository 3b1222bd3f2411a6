//! Packed 4:2:2 YUV (YUYV, UYVY) → BGR24, bit-exact with OpenCV's `cvtColor`
//! (`COLOR_YUV2BGR_YUYV`, `COLOR_YUV2BGR_UYVY`), in plain integer Rust.
//!
//! `cvtColor` converts BT.601 limited range in 20-bit fixed point, the luma clamped to 16
//! first (BENCHMARKS.md 5b; checked on every (Y, U, V) triple by
//! `tests/convert.rs::yuyv_is_bit_exact_with_cvtcolor_on_every_triple`):
//!
//! ```text
//! Y' = max(Y − 16, 0) · 1220542
//! R  = sat((Y' + 1673527·(V − 128)                  + 2¹⁹) >> 20)
//! G  = sat((Y' −  852492·(V − 128) − 409993·(U − 128) + 2¹⁹) >> 20)
//! B  = sat((Y' + 2116026·(U − 128)                  + 2¹⁹) >> 20)
//! ```
//!
//! Every intermediate fits an `i32` (at most 5.6·10⁸), so the code below is the formula
//! itself. Which code runs is chosen per CPU, at run time:
//!
//! * with AVX2: a kernel of `std::arch` intrinsics, 16 pixels per step, about half the CPU
//!   of `cvtColor` (one thread) on the same frames (BENCHMARKS.md 5b);
//! * without SSE4.1: plain scalar code. Such x86-64 CPUs are, in practice, emulated ones
//!   (qemu's default CPU models, as in the project's vivid VM), where scalar integer code
//!   runs much faster than vector code (qemu's TCG emulates each SSE instruction with a
//!   call);
//! * with SSE4.1 but no AVX2 (a real CPU: Atom-class Celerons, pre-2013 Core), and on
//!   other architectures: `cvtColor`, whose vector code beats scalar code there
//!   ([`faster_than_cvtcolor`]).
//!
//! Why not `cvtColor` itself: it splits every frame across OpenCV's worker threads (under
//! emulation that doubles the conversion's CPU), and its vector code is what a
//! CPU-emulating VM runs slowest (BENCHMARKS.md 4b). The `unsafe` of the AVX2 kernel (the
//! call into it, after the CPU was seen to have AVX2, and its unaligned loads and stores)
//! stays in this module.

/// Which byte of a 4-byte macropixel holds what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Packed422 {
    /// Y0 U Y1 V.
    Yuyv,
    /// U Y0 V Y1.
    Uyvy,
}

const CY: i32 = 1_220_542;
const CRV: i32 = 1_673_527;
const CGV: i32 = -852_492;
const CGU: i32 = -409_993;
const CBU: i32 = 2_116_026;
const ROUND: i32 = 1 << 19;

/// 1 in each of the three 16-bit fields [`pixel`] works with.
const ONES: u64 = 0x0001_0001_0001;

/// One pixel's BGR bytes (in the low 24 bits), from its luma and its pair's chroma terms.
///
/// Branch-free by construction: LLVM compiles `clamp` in this loop to jumps, which
/// mispredict on noisy pictures and, under qemu's TCG, end a translation block at every
/// pixel. So each channel is computed biased by 512 (`(x + 512·2²⁰) >> 20` is
/// `(x >> 20) + 512`, always in 306..=1046 here), the three go into 16-bit fields of one
/// word, and the word is clamped to 512..=767 field by field with shifts and masks.
#[inline(always)]
fn pixel(y: i32, r: i32, g: i32, b: i32) -> u64 {
    // max(Y − 16, 0) without a branch: Y + 240 has bit 8 set exactly when Y ≥ 16, and
    // then its low byte is Y − 16.
    let y = (y + 240) & -((y + 240) >> 8) & 0xff;
    let l = y * CY + (512 << 20);
    let c = |t: i32| ((l + t) >> 20) as u64;
    let w = c(b) | c(g) << 16 | c(r) << 32;
    // Per field: ≥ 768 (bit 10 of f + 256), ≥ 512 (bit 9; the fields ≥ 1024 are ≥ 768).
    let over = ((w + (ONES << 8)) >> 10) & ONES;
    let keep = (w >> 9) & ONES;
    let w = (w & (keep * 0xff)) | (over * 0xff);
    (w & 0xff) | ((w >> 8) & 0xff00) | ((w >> 16) & 0xff_0000)
}

/// A pair's chroma terms (rounding included): R, G, B.
#[inline(always)]
fn chroma(u: i32, v: i32) -> (i32, i32, i32) {
    let (u, v) = (u - 128, v - 128);
    (CRV * v + ROUND, CGV * v + CGU * u + ROUND, CBU * u + ROUND)
}

/// One pixel pair (4 source bytes → 6 BGR bytes).
#[inline(always)]
fn pair(order: Packed422, s: &[u8], d: &mut [u8]) {
    let (y0, u, y1, v) = match order {
        Packed422::Yuyv => (s[0], s[1], s[2], s[3]),
        Packed422::Uyvy => (s[1], s[0], s[3], s[2]),
    };
    let (r, g, b) = chroma(i32::from(u), i32::from(v));
    let two = pixel(i32::from(y0), r, g, b) | pixel(i32::from(y1), r, g, b) << 24;
    d[..6].copy_from_slice(&two.to_le_bytes()[..6]);
}

/// Rows with plain scalar code: 4 pixels per step, read as one 64-bit word and written as
/// a 64-bit and a 32-bit word. This is what a CPU emulator runs fastest: qemu's TCG turns
/// each SSE instruction into a call and each memory access into a software TLB lookup, so
/// the compiler's SSE2 vectorization of the same formula cost it 1.5x as much
/// (BENCHMARKS.md 5b).
fn rows_scalar(order: Packed422, src: &[u8], ss: usize, dst: &mut [u8], ds: usize, w: usize) {
    // Byte positions of Y0, U, Y1, V in a macropixel, times 8.
    let (y0, u, y1, v) = match order {
        Packed422::Yuyv => (0, 8, 16, 24),
        Packed422::Uyvy => (8, 0, 24, 16),
    };
    let quads = w / 4;
    for (s, d) in src.chunks(ss).zip(dst.chunks_mut(ds)) {
        let (s_quads, s_rest) = s[..2 * w].split_at(8 * quads);
        let (d_quads, d_rest) = d[..3 * w].split_at_mut(12 * quads);
        for (s, d) in s_quads.chunks_exact(8).zip(d_quads.chunks_exact_mut(12)) {
            let q = u64::from_le_bytes(s.try_into().expect("chunks_exact"));
            let at = |shift: u32| ((q >> shift) & 0xff) as i32;
            let (r0, g0, b0) = chroma(at(u), at(v));
            let (r1, g1, b1) = chroma(at(32 + u), at(32 + v));
            let p0 = pixel(at(y0), r0, g0, b0);
            let p1 = pixel(at(y1), r0, g0, b0);
            let p2 = pixel(at(32 + y0), r1, g1, b1);
            let p3 = pixel(at(32 + y1), r1, g1, b1);
            d[..8].copy_from_slice(&(p0 | p1 << 24 | p2 << 48).to_le_bytes());
            d[8..].copy_from_slice(&(((p2 >> 16) | p3 << 8) as u32).to_le_bytes());
        }
        for (s, d) in s_rest.chunks_exact(4).zip(d_rest.chunks_exact_mut(6)) {
            pair(order, s, d);
        }
    }
}

/// The AVX2 kernel: 16 pixels per step, the same formula in 32-bit lanes (`vpmulld`,
/// `vpsrad`), the clamp done by the saturating packs, bytes moved with `vpshufb`. Only
/// reached after `is_x86_feature_detected!("avx2")`.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{pair, Packed422, CBU, CGU, CGV, CRV, CY, ROUND};

    /// "Zero this byte" in a `vpshufb` mask.
    const Z: u8 = 0x80;

    /// One 128-bit lane's byte shuffle, the same in both lanes.
    #[target_feature(enable = "avx2")]
    fn lane(mask: [u8; 16]) -> __m256i {
        // SAFETY: `mask` is 16 readable bytes; `loadu` has no alignment requirement.
        let m = unsafe { _mm_loadu_si128(mask.as_ptr().cast()) };
        _mm256_broadcastsi128_si256(m)
    }

    /// Within a lane (8 pixels, 16 bytes): the byte of luma `first`, `first + 1`, ...
    /// (`step` bytes apart) or of the chroma of pair 0..3, into 32-bit lanes.
    fn spread(offsets: [u8; 4]) -> [u8; 16] {
        let mut m = [Z; 16];
        for (i, o) in offsets.into_iter().enumerate() {
            m[4 * i] = o;
        }
        m
    }

    /// Byte masks that move a lane's B, G (`[b0..b7, g0..g7]`) and R (`[r0..r7, ..]`)
    /// into BGR order: output bytes `from .. from + 16` (past 24: zero).
    fn bgr_masks(from: usize) -> ([u8; 16], [u8; 16]) {
        let (mut bg, mut r) = ([Z; 16], [Z; 16]);
        for k in 0..16 {
            let (p, c) = ((from + k) / 3, (from + k) % 3);
            if p >= 8 {
                break;
            }
            match c {
                0 => bg[k] = p as u8,
                1 => bg[k] = 8 + p as u8,
                _ => r[k] = p as u8,
            }
        }
        (bg, r)
    }

    struct Masks {
        y_lo: __m256i,
        y_hi: __m256i,
        u: __m256i,
        v: __m256i,
        out0_bg: __m256i,
        out0_r: __m256i,
        out1_bg: __m256i,
        out1_r: __m256i,
    }

    #[target_feature(enable = "avx2")]
    fn masks(order: Packed422) -> Masks {
        let (y, u, v) = match order {
            Packed422::Yuyv => (0, 1, 3),
            Packed422::Uyvy => (1, 0, 2),
        };
        let (o0_bg, o0_r) = bgr_masks(0);
        let (o1_bg, o1_r) = bgr_masks(16);
        Masks {
            y_lo: lane(spread([y, y + 2, y + 4, y + 6])),
            y_hi: lane(spread([y + 8, y + 10, y + 12, y + 14])),
            u: lane(spread([u, u + 4, u + 8, u + 12])),
            v: lane(spread([v, v + 4, v + 8, v + 12])),
            out0_bg: lane(o0_bg),
            out0_r: lane(o0_r),
            out1_bg: lane(o1_bg),
            out1_r: lane(o1_r),
        }
    }

    /// 16 pixels: 32 source bytes → 48 BGR bytes.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn block(m: &Masks, s: &[u8; 32], d: &mut [u8; 48]) {
        // SAFETY: `s` is 32 readable bytes; `loadu` has no alignment requirement.
        let px = unsafe { _mm256_loadu_si256(s.as_ptr().cast()) };
        let c128 = _mm256_set1_epi32(128);
        let luma = |mask| {
            let y = _mm256_sub_epi32(_mm256_shuffle_epi8(px, mask), _mm256_set1_epi32(16));
            let y = _mm256_max_epi32(y, _mm256_setzero_si256());
            _mm256_add_epi32(
                _mm256_mullo_epi32(y, _mm256_set1_epi32(CY)),
                _mm256_set1_epi32(ROUND),
            )
        };
        let (l_lo, l_hi) = (luma(m.y_lo), luma(m.y_hi));
        // Chroma terms per pixel pair (4 per lane), then each pair's twice.
        let u = _mm256_sub_epi32(_mm256_shuffle_epi8(px, m.u), c128);
        let v = _mm256_sub_epi32(_mm256_shuffle_epi8(px, m.v), c128);
        let rv = _mm256_mullo_epi32(v, _mm256_set1_epi32(CRV));
        let bu = _mm256_mullo_epi32(u, _mm256_set1_epi32(CBU));
        let guv = _mm256_add_epi32(
            _mm256_mullo_epi32(v, _mm256_set1_epi32(CGV)),
            _mm256_mullo_epi32(u, _mm256_set1_epi32(CGU)),
        );
        let channel = |c| {
            let lo = _mm256_shuffle_epi32::<0b01_01_00_00>(c);
            let hi = _mm256_shuffle_epi32::<0b11_11_10_10>(c);
            // >> 20, then both halves packed to i16 (no value leaves -206..=534).
            _mm256_packs_epi32(
                _mm256_srai_epi32::<20>(_mm256_add_epi32(l_lo, lo)),
                _mm256_srai_epi32::<20>(_mm256_add_epi32(l_hi, hi)),
            )
        };
        let (b, g, r) = (channel(bu), channel(guv), channel(rv));
        // Saturated to 0..=255: per lane [b0..b7, g0..g7] and [r0..r7, r0..r7].
        let bg = _mm256_packus_epi16(b, g);
        let rr = _mm256_packus_epi16(r, r);
        let out0 = _mm256_or_si256(
            _mm256_shuffle_epi8(bg, m.out0_bg),
            _mm256_shuffle_epi8(rr, m.out0_r),
        );
        let out1 = _mm256_or_si256(
            _mm256_shuffle_epi8(bg, m.out1_bg),
            _mm256_shuffle_epi8(rr, m.out1_r),
        );
        let p = d.as_mut_ptr();
        // SAFETY: `d` is 48 writable bytes; lane 0 (pixels 0..8) fills bytes 0..24, lane 1
        // bytes 24..48; unaligned stores of 16 and 8 bytes at those offsets stay inside.
        unsafe {
            _mm_storeu_si128(p.cast(), _mm256_castsi256_si128(out0));
            _mm_storel_epi64(p.add(16).cast(), _mm256_castsi256_si128(out1));
            _mm_storeu_si128(p.add(24).cast(), _mm256_extracti128_si256::<1>(out0));
            _mm_storel_epi64(p.add(40).cast(), _mm256_extracti128_si256::<1>(out1));
        }
    }

    /// The rows, as [`super::rows_scalar`].
    #[target_feature(enable = "avx2")]
    pub(super) fn rows(
        order: Packed422,
        src: &[u8],
        ss: usize,
        dst: &mut [u8],
        ds: usize,
        w: usize,
    ) {
        let m = masks(order);
        let blocks = w / 16;
        for (s, d) in src.chunks(ss).zip(dst.chunks_mut(ds)) {
            let (s_blocks, s_rest) = s[..2 * w].split_at(32 * blocks);
            let (d_blocks, d_rest) = d[..3 * w].split_at_mut(48 * blocks);
            for (s, d) in s_blocks.chunks_exact(32).zip(d_blocks.chunks_exact_mut(48)) {
                block(
                    &m,
                    s.try_into().expect("chunks_exact"),
                    d.try_into().expect("chunks_exact"),
                );
            }
            for (s, d) in s_rest.chunks_exact(4).zip(d_rest.chunks_exact_mut(6)) {
                pair(order, s, d);
            }
        }
    }
}

/// Whether [`packed422_to_bgr`] is the better choice than `cvtColor` on this CPU: with
/// AVX2 (its vector kernel: about half `cvtColor`'s CPU), and without SSE4.1 (its scalar
/// code: such x86-64 CPUs are emulated ones, qemu's default models, where it costs a
/// fraction of `cvtColor`'s emulated SSE2 code). A real CPU with SSE4.1 and no AVX2 (Atom-
/// class Celerons and Pentiums up to 2021, pre-2013 Core) runs `cvtColor`'s SSE4.1 code
/// faster than scalar code (8x on this project's host), so it keeps `cvtColor`.
pub(crate) fn faster_than_cvtcolor() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
            || !std::arch::is_x86_feature_detected!("sse4.1")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // Elsewhere (ARM: OpenCV's NEON code) nothing was measured: keep cvtColor.
        false
    }
}

/// Converts `height` rows of `width` pixels (`width` even) of packed 4:2:2 `src` (rows
/// `src_stride` bytes apart) into BGR24 `dst` (rows `dst_stride` bytes apart).
///
/// # Panics
/// If a buffer is too short for its rows, or `width` is odd: callers check the layouts.
pub(crate) fn packed422_to_bgr(
    order: Packed422,
    src: &[u8],
    src_stride: usize,
    dst: &mut [u8],
    dst_stride: usize,
    width: usize,
    height: usize,
) {
    assert!(width % 2 == 0, "packed 4:2:2 rows hold pixel pairs");
    assert!(src_stride >= 2 * width && dst_stride >= 3 * width);
    if height == 0 || width == 0 {
        return;
    }
    let src_len = src_stride * (height - 1) + 2 * width;
    let dst_len = dst_stride * (height - 1) + 3 * width;
    let (src, dst) = (&src[..src_len], &mut dst[..dst_len]);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: `avx2::rows` needs a CPU that runs AVX2 instructions: checked just above.
        unsafe { avx2::rows(order, src, src_stride, dst, dst_stride, width) };
        return;
    }
    rows_scalar(order, src, src_stride, dst, dst_stride, width);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The formula of the module docs, one pixel at a time, in 64-bit arithmetic.
    fn reference(y: u8, u: u8, v: u8) -> [u8; 3] {
        let l = (i64::from(y) - 16).max(0) * 1_220_542;
        let (u, v) = (i64::from(u) - 128, i64::from(v) - 128);
        let sat = |x: i64| ((x + (1 << 19)) >> 20).clamp(0, 255) as u8;
        [
            sat(l + 2_116_026 * u),
            sat(l - 852_492 * v - 409_993 * u),
            sat(l + 1_673_527 * v),
        ]
    }

    /// Both kernels this CPU has (the scalar one always, AVX2 when present) against the
    /// formula on every (Y, U, V) triple, in both byte orders, rows of 256 pixels (so the
    /// AVX2 kernel's 16-pixel steps) and of 254 (so its pair-by-pair tail, and the scalar
    /// kernel's). `tests/convert.rs` compares the chosen kernel with `cvtColor` itself.
    #[test]
    fn every_kernel_is_the_formula_on_every_triple() {
        type Rows = fn(Packed422, &[u8], usize, &mut [u8], usize, usize);
        let mut kernels: Vec<(&str, Rows)> = vec![("scalar", rows_scalar)];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            kernels.push(("avx2", |o, s, ss, d, ds, w| {
                // SAFETY: the CPU has AVX2, checked just above.
                unsafe { avx2::rows(o, s, ss, d, ds, w) }
            }));
        }
        for order in [Packed422::Yuyv, Packed422::Uyvy] {
            for (name, rows) in &kernels {
                for w in [256usize, 254] {
                    let (ss, ds) = (2 * w + 4, 3 * w + 2);
                    let mut src = vec![0u8; ss * 256];
                    let mut dst = vec![0u8; ds * 256];
                    // Every U at 256 pixels, every 15th at 254 (the tails).
                    for u in (0..=255u8).filter(|u| w == 256 || u % 15 == 0) {
                        // Row v holds the pairs (2k, 2k + 1) with chroma (u, v).
                        for (v, row) in src.chunks_mut(ss).enumerate() {
                            for (k, px) in row[..2 * w].chunks_exact_mut(4).enumerate() {
                                let (y0, y1) = (2 * k as u8, 2 * k as u8 + 1);
                                px.copy_from_slice(&match order {
                                    Packed422::Yuyv => [y0, u, y1, v as u8],
                                    Packed422::Uyvy => [u, y0, v as u8, y1],
                                });
                            }
                        }
                        rows(order, &src, ss, &mut dst, ds, w);
                        for (v, row) in dst.chunks(ds).enumerate() {
                            for (x, bgr) in row[..3 * w].chunks_exact(3).enumerate() {
                                let want = reference(x as u8, u, v as u8);
                                assert_eq!(bgr, want, "{name} {order:?} y {x} u {u} v {v}");
                            }
                        }
                    }
                }
            }
        }
    }
}
