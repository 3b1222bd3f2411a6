//! Frame → Mat view cost, and YUYV → BGR at 1920x1080 into pooled frames vs a new
//! OpenCV-allocated Mat per frame, in the same run.
//!
//! `cargo bench -p framekeep-cv --bench cv`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use framekeep_core::frame::{FrameLayout, PixelFormat};
use framekeep_core::pool::PoolOptions;
use framekeep_cv::convert::BgrConverter;
use framekeep_cv::mat::MatView;
use opencv::core::Mat;
use opencv::imgproc::{cvt_color_def, COLOR_YUV2BGR_YUYV};
use opencv::prelude::*;

const W: usize = 1920;
const H: usize = 1080;

fn source(format: PixelFormat) -> framekeep_core::frame::Frame {
    let layout = FrameLayout::packed(format, W, H).unwrap();
    let data: Vec<u8> = (0..layout.len())
        .map(|i| (i * 31 + i / 1013) as u8)
        .collect();
    framekeep_core::frame::Frame::from_vec(layout, data).unwrap()
}

fn views(c: &mut Criterion) {
    let frame = source(PixelFormat::Bgr24);
    let mut g = c.benchmark_group("mat_view_1080p_bgr");
    g.bench_function(
        "framekeep MatView::new (owns a frame handle, ledger entry)",
        |b| {
            b.iter(|| {
                let view = MatView::new(black_box(&frame)).unwrap();
                black_box(view.rows());
            })
        },
    );
    g.bench_function(
        "opencv Mat::new_rows_cols_with_data (borrowed, untracked)",
        |b| {
            b.iter(|| {
                let m = Mat::new_rows_cols_with_bytes::<opencv::core::Vec3b>(
                    H as i32,
                    W as i32,
                    black_box(frame.data()),
                )
                .unwrap();
                black_box(m.rows());
            })
        },
    );
    g.finish();
}

fn conversion(c: &mut Criterion) {
    let src = source(PixelFormat::Yuyv);
    let layout = FrameLayout::packed(PixelFormat::Bgr24, W, H).unwrap();
    let pool = PoolOptions::new(layout)
        .min_buffers(2)
        .max_buffers(2)
        .build()
        .unwrap();
    let converter = BgrConverter::new(pool);
    let mut g = c.benchmark_group("yuyv_to_bgr_1080p");
    g.throughput(Throughput::Elements(1));
    g.sample_size(50);
    g.bench_function("pooled output frame (BgrConverter)", |b| {
        b.iter(|| {
            let out = converter.convert(black_box(&src)).unwrap();
            black_box(out.data()[0]);
        })
    });
    g.bench_function("new OpenCV Mat per frame", |b| {
        let view = MatView::new(&src).unwrap();
        b.iter(|| {
            let mut out = Mat::default();
            cvt_color_def(black_box(&view), &mut out, COLOR_YUV2BGR_YUYV).unwrap();
            black_box(out.data());
        })
    });
    g.finish();
}

criterion_group!(benches, views, conversion);
criterion_main!(benches);
