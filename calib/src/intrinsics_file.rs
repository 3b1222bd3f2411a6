//! The intrinsics files of `--intrinsics` (and `--left-intrinsics`/`--right-intrinsics`),
//! read in Rust, never by OpenCV's `FileStorage`.
//!
//! `FileStorage`'s parsers (OpenCV 4.6) crash the process on some malformed input (the
//! fuzz target `intrinsics` found XML and YAML texts that make them read out of bounds),
//! and a matrix header it reads is allocated before its data is looked at: a file that
//! declares a 100000x60000 matrix makes it ask for 48 GB. So the tools read the subset
//! of OpenCV's YAML that calibration files use, and check every size before anything is
//! allocated:
//!
//! ```yaml
//! %YAML:1.0
//! ---
//! camera_matrix: !!opencv-matrix
//!    rows: 3
//!    cols: 3
//!    dt: d
//!    data: [ 5.0e+02, 0., 3.2e+02, 0., 5.0e+02, 2.4e+02,
//!        0., 0., 1. ]
//! distortion_coefficients: !!opencv-matrix
//!    rows: 1
//!    cols: 5
//!    dt: d
//!    data: [ -0.1, 0.01, 0., 0., 0. ]
//! ```
//!
//! Top-level entries are `key: value` lines; the two matrices are read, every other entry
//! (scalars, strings, other matrices, nested blocks) is passed over. Everything that is
//! not this (XML or JSON FileStorage files, a matrix of another shape, element type or
//! length, a value that is not a finite number, a file over 1 MiB) is refused with the
//! reason, and the caller names the file.

use std::io::Read;

/// The largest intrinsics file read (bytes): calibration files are a few KB.
pub(crate) const MAX_BYTES: u64 = 1 << 20;

/// Distortion coefficient counts OpenCV's models have.
pub(crate) const DIST_COUNTS: [usize; 5] = [4, 5, 8, 12, 14];

/// The camera matrix and distortion coefficients of a file's text.
pub(crate) fn parse(text: &str, keys: (&str, &str)) -> Result<([[f64; 3]; 3], Vec<f64>), String> {
    let lines = body_lines(text)?;
    let k = matrix(&lines, keys.0)?;
    if (k.rows, k.cols) != (3, 3) {
        return Err(format!("{} is {}x{}, not 3x3", keys.0, k.rows, k.cols));
    }
    let d = matrix(&lines, keys.1)?;
    let count = d.rows.checked_mul(d.cols);
    if (d.rows != 1 && d.cols != 1) || !count.is_some_and(|c| DIST_COUNTS.contains(&c)) {
        return Err(format!(
            "{} is {}x{}: not a row or column of 4, 5, 8, 12 or 14 coefficients",
            keys.1, d.rows, d.cols
        ));
    }
    let k_values = values(&k, keys.0)?;
    let mut camera_matrix = [[0.0; 3]; 3];
    for (i, v) in k_values.into_iter().enumerate() {
        camera_matrix[i / 3][i % 3] = v;
    }
    let dist = values(&d, keys.1)?;
    Ok((camera_matrix, dist))
}

/// Reads at most [`MAX_BYTES`] of `file` as UTF-8 text.
pub(crate) fn read_text(file: std::fs::File) -> Result<String, String> {
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(format!(
            "larger than {} KiB: not an intrinsics file",
            MAX_BYTES / 1024
        ));
    }
    String::from_utf8(bytes).map_err(|_| "not a text file".into())
}

/// A line of the file: its number (from 1), its indentation and its content.
struct Line<'a> {
    number: usize,
    indent: usize,
    text: &'a str,
}

/// The lines that carry content: without comments, blank lines, the `%YAML` directive
/// and document markers.
fn body_lines(text: &str) -> Result<Vec<Line<'_>>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let content = strip_comment(raw).trim_end();
        let trimmed = content.trim_start();
        if trimmed.is_empty() {
            continue;
        }
        if lines.is_empty() {
            if trimmed.starts_with('<') {
                return Err(
                    "an XML file: only OpenCV's YAML format is read (write the file as .yml)"
                        .into(),
                );
            }
            if trimmed.starts_with('{') || trimmed.starts_with('[') {
                return Err("a JSON or flow-style file: only OpenCV's YAML format is read".into());
            }
        }
        if trimmed.starts_with('%') {
            if !trimmed.starts_with("%YAML") {
                return Err(format!("line {number}: unknown directive"));
            }
            continue;
        }
        if trimmed == "---" || trimmed == "..." || trimmed.starts_with("--- ") {
            continue;
        }
        if content[..content.len() - trimmed.len()].contains('\t') {
            return Err(format!("line {number}: indented with a tab"));
        }
        lines.push(Line {
            number,
            indent: content.len() - trimmed.len(),
            text: trimmed,
        });
    }
    if lines.is_empty() {
        return Err("empty: no entries".into());
    }
    if lines[0].indent != 0 {
        return Err(format!(
            "line {}: the first entry is indented",
            lines[0].number
        ));
    }
    for l in lines.iter().filter(|l| l.indent == 0) {
        if split_entry(l.text).is_none() {
            return Err(format!(
                "line {}: not a `key: value` entry of a YAML mapping",
                l.number
            ));
        }
    }
    Ok(lines)
}

/// `text` up to a `#` that starts a comment (outside quotes).
fn strip_comment(text: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (i, c) in text.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && (prev == ' ' || i == 0) => return &text[..i],
            None => {}
        }
        prev = c;
    }
    text
}

/// `key: value` (or `key:`) as (key, value); `None` if the line is not one.
fn split_entry(text: &str) -> Option<(&str, &str)> {
    let colon = text.find(':')?;
    let (key, rest) = (&text[..colon], &text[colon + 1..]);
    let key = key.trim_end();
    let key = key
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .unwrap_or(key);
    if key.is_empty()
        || key.starts_with('-')
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return None;
    }
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    Some((key, rest.trim()))
}

/// A matrix entry's header, and where its data text lies.
struct Matrix {
    rows: usize,
    cols: usize,
    /// The text between `data: [` and `]`.
    data: String,
}

/// The `!!opencv-matrix` entry `key`, its header checked (rows, cols, single-channel
/// element type) and its data text collected, nothing parsed yet.
fn matrix(lines: &[Line<'_>], key: &str) -> Result<Matrix, String> {
    let mut found = None;
    for (i, l) in lines.iter().enumerate() {
        if l.indent != 0 {
            continue;
        }
        let (k, v) = split_entry(l.text).expect("checked by body_lines");
        if k == key {
            if found.is_some() {
                return Err(format!("line {}: a second {key} entry", l.number));
            }
            found = Some((i, v));
        }
    }
    let (at, value) = found.ok_or_else(|| format!("no {key} entry"))?;
    let line = lines[at].number;
    if value != "!!opencv-matrix" && value != "!<tag:yaml.org,2002:opencv-matrix>" {
        return Err(format!(
            "line {line}: {key} is not an OpenCV matrix (`{key}: !!opencv-matrix`)"
        ));
    }
    let body: Vec<&Line<'_>> = lines[at + 1..]
        .iter()
        .take_while(|l| l.indent > 0)
        .collect();
    let (mut rows, mut cols, mut dt, mut data) = (None, None, None, None);
    let mut i = 0;
    while i < body.len() {
        let l = body[i];
        i += 1;
        let (field, v) = split_entry(l.text)
            .ok_or_else(|| format!("line {}: not a field of matrix {key}", l.number))?;
        let slot_taken = |taken: bool| {
            if taken {
                Err(format!("line {}: a second {field} in {key}", l.number))
            } else {
                Ok(())
            }
        };
        match field {
            "rows" | "cols" => {
                let n: usize = v.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                    format!("line {}: {key} {field} `{v}` is not a size", l.number)
                })?;
                let slot = if field == "rows" {
                    &mut rows
                } else {
                    &mut cols
                };
                slot_taken(slot.is_some())?;
                *slot = Some(n);
            }
            "dt" => {
                slot_taken(dt.is_some())?;
                let t = v.trim_matches(|c| c == '"' || c == '\'');
                let t = t.strip_prefix('1').unwrap_or(t);
                if !matches!(t, "d" | "f" | "i" | "s" | "w" | "u" | "c") {
                    return Err(format!(
                        "line {}: {key} has elements of type `{v}`, not single numbers",
                        l.number
                    ));
                }
                dt = Some(());
            }
            "data" => {
                slot_taken(data.is_some())?;
                let mut text = v
                    .strip_prefix('[')
                    .ok_or_else(|| {
                        format!("line {}: {key} data is not a `[ ... ]` list", l.number)
                    })?
                    .to_string();
                // The list may go on over the following (indented) lines.
                while !text.contains(']') {
                    let next = body
                        .get(i)
                        .ok_or_else(|| format!("{key}: its data list has no closing `]`"))?;
                    i += 1;
                    text.push(' ');
                    text.push_str(next.text);
                }
                let end = text.find(']').expect("contains ]");
                if !text[end + 1..].trim().is_empty() {
                    return Err(format!("{key}: text after its data list"));
                }
                text.truncate(end);
                data = Some(text);
            }
            other => {
                return Err(format!(
                    "line {}: {key} has a field `{other}` an OpenCV matrix has not",
                    l.number
                ))
            }
        }
    }
    let missing = |what: &str| format!("{key} has no {what}");
    Ok(Matrix {
        rows: rows.ok_or_else(|| missing("rows"))?,
        cols: cols.ok_or_else(|| missing("cols"))?,
        data: {
            dt.ok_or_else(|| missing("dt (element type)"))?;
            data.ok_or_else(|| missing("data"))?
        },
    })
}

/// The `rows x cols` finite numbers of a matrix whose header was checked (at most 14).
fn values(m: &Matrix, key: &str) -> Result<Vec<f64>, String> {
    let count = m.rows * m.cols;
    let mut out = Vec::with_capacity(count);
    for token in m.data.split(',').map(str::trim) {
        if token.is_empty() && out.is_empty() && m.data.trim().is_empty() {
            break;
        }
        if out.len() == count {
            return Err(format!(
                "{key} is {}x{} but its data holds more than {count} values",
                m.rows, m.cols
            ));
        }
        let v: f64 = token
            .parse()
            .map_err(|_| format!("{key}: `{token}` is not a number"))?;
        if !v.is_finite() {
            return Err(format!("{key}: `{token}` is not a finite number"));
        }
        out.push(v);
    }
    if out.len() != count {
        return Err(format!(
            "{key} is {}x{} but its data holds {} values",
            m.rows,
            m.cols,
            out.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: (&str, &str) = ("camera_matrix", "distortion_coefficients");

    const OPENCV: &str = "%YAML:1.0\n---\ncalibration_time: \"unix:1\"\nnframes: 12\n\
        camera_matrix: !!opencv-matrix\n   rows: 3\n   cols: 3\n   dt: d\n   \
        data: [ 5.0e+02, 0., 3.2e+02, 0., 5.0e+02,\n       2.4e+02, 0., 0., 1. ]\n\
        distortion_coefficients: !!opencv-matrix\n   rows: 1\n   cols: 5\n   dt: d\n   \
        data: [ -1.0e-01, 1.0e-02, 0., 0., 0. ]\n\
        per_view_reprojection_errors: !!opencv-matrix\n   rows: 2\n   cols: 1\n   dt: f\n   \
        data: [ 1.5e-01, 2.0e-01 ]\n";

    #[test]
    fn reads_what_opencv_writes() {
        let (k, d) = parse(OPENCV, KEYS).unwrap();
        assert_eq!(
            k,
            [[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]]
        );
        assert_eq!(d, [-0.1, 0.01, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn refuses_with_a_reason() {
        let cases: &[(&str, &str)] = &[
            ("<?xml version=\"1.0\"?>\n<opencv_storage>\n", "XML"),
            ("{ \"camera_matrix\": 1 }", "JSON"),
            ("", "empty"),
            ("- 1\n- 2\n", "not a `key: value`"),
            ("camera_matrix: 5\n", "not an OpenCV matrix"),
            (
                "camera_matrix: !!opencv-matrix\n  rows: 80000\n  cols: 80000\n  dt: d\n  data: [ 1 ]\n",
                "80000x80000, not 3x3",
            ),
            (
                "camera_matrix: !!opencv-matrix\n  rows: 3\n  cols: 3\n  dt: 3d\n  data: [ 1 ]\n",
                "type `3d`",
            ),
            (
                "camera_matrix: !!opencv-matrix\n  rows: 3\n  cols: 3\n  dt: d\n  data: [ 1, 2\n",
                "no closing",
            ),
        ];
        for (text, needle) in cases {
            let e = parse(text, KEYS).unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn checks_values_and_counts() {
        let with = |k: &str, d: &str| {
            OPENCV
                .replace("5.0e+02, 0., 3.2e+02", k)
                .replace("-1.0e-01, 1.0e-02, 0., 0., 0.", d)
        };
        let e = parse(
            &with(".Nan, 0., 3.2e+02", "-1.0e-01, 1.0e-02, 0., 0., 0."),
            KEYS,
        )
        .unwrap_err();
        assert!(e.contains("not a number"), "{e}");
        let e = parse(
            &with("inf, 0., 3.2e+02", "-1.0e-01, 1.0e-02, 0., 0., 0."),
            KEYS,
        )
        .unwrap_err();
        assert!(e.contains("not a finite number"), "{e}");
        let e = parse(&with("5.0e+02, 0., 3.2e+02", "1, 2, 3, 4, 5, 6"), KEYS).unwrap_err();
        assert!(e.contains("more than 5"), "{e}");
        let e = parse(&with("5.0e+02, 0., 3.2e+02", "1, 2"), KEYS).unwrap_err();
        assert!(e.contains("holds 2 values"), "{e}");
        let e = parse(&OPENCV.replace("cols: 5", "cols: 6"), KEYS).unwrap_err();
        assert!(e.contains("1x6"), "{e}");
        let big = format!("rows: {}\n   cols: {}", usize::MAX, usize::MAX);
        let e = parse(&OPENCV.replace("rows: 1\n   cols: 5", &big), KEYS).unwrap_err();
        assert!(e.contains("not a row or column"), "{e}");
    }
}
