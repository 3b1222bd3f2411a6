//! Live runs: views collected from cameras, then calibrated as an image set.
//!
//! The collected views are written to the views directory and handed to the image-set
//! run as explicit file lists (not the directory, which may hold an earlier session's
//! views). The cameras are closed before calibration starts; a camera error, Ctrl-C
//! during collection or too few views ends the run before any output file is staged.

use crate::error::{CalibError, Result};
use crate::live::{
    collect_pairs, collect_views, LiveCamera, LiveOptions, LiveOutcome, LiveProgress, LiveStop,
    PairOptions, PairOutcome,
};
use crate::run::{
    run_mono, run_stereo, MonoOptions, MonoOutcome, StereoInputs, StereoOptions, StereoOutcome,
};

fn collected(stop: &LiveStop) -> Result<()> {
    if *stop == LiveStop::Cancelled {
        return Err(CalibError::Cancelled(
            "interrupted while collecting views".into(),
        ));
    }
    Ok(())
}

fn enough(kept: usize, min: usize) -> Result<()> {
    let needed = min.max(crate::mono::MIN_VIEWS);
    if kept < needed {
        return Err(CalibError::TooFewViews {
            usable: kept,
            needed,
            skipped: vec![
                "(live input: show the board in more positions, or raise --max-frames)".into(),
            ],
        });
    }
    Ok(())
}

/// calib-mono `--device`: collects views from `camera` (cancelled by `opts.cancel`), then
/// runs [`run_mono`] on them; `opts.inputs` is replaced by the collected views.
/// `on_collected` runs between the two (the CLI prints where the views went).
pub fn run_mono_live(
    mut camera: LiveCamera,
    live: &LiveOptions,
    opts: &MonoOptions,
    on_progress: impl FnMut(&LiveProgress),
    on_collected: impl FnOnce(&LiveOutcome),
) -> Result<(LiveOutcome, MonoOutcome)> {
    let outcome = collect_views(&mut camera, &opts.cancel, live, on_progress);
    camera.close();
    let outcome = outcome?;
    collected(&outcome.stop)?;
    on_collected(&outcome);
    enough(outcome.views.len(), opts.min_views)?;
    let mut opts = opts.clone();
    opts.inputs = outcome
        .views
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let result = run_mono(&opts)?;
    Ok((outcome, result))
}

/// calib-stereo `--left-device/--right-device`: collects time-matched pairs from the two
/// cameras (cancelled by `opts.cancel`), then runs [`run_stereo`] on them; `opts.inputs`
/// is replaced by the collected pairs. `on_collected` runs between the two.
pub fn run_stereo_live(
    mut left: LiveCamera,
    mut right: LiveCamera,
    pairs: &PairOptions,
    opts: &StereoOptions,
    on_progress: impl FnMut(&LiveProgress),
    on_collected: impl FnOnce(&PairOutcome),
) -> Result<(PairOutcome, StereoOutcome)> {
    let outcome = collect_pairs(&mut left, &mut right, &opts.cancel, pairs, on_progress);
    left.close();
    right.close();
    let outcome = outcome?;
    collected(&outcome.stop)?;
    on_collected(&outcome);
    enough(outcome.left.len(), opts.min_pairs)?;
    let mut opts = opts.clone();
    opts.inputs = StereoInputs::Paths {
        left: outcome.left.clone(),
        right: outcome.right.clone(),
    };
    let result = run_stereo(&opts)?;
    Ok((outcome, result))
}
