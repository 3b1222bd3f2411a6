//! Builds the strict JPEG decoder (csrc/strict_jpeg.c) against the system's libjpeg
//! (Debian: libjpeg62-turbo-dev, installed by scripts/setup.sh; libopencv-dev pulls it in
//! too). See src/jpeg.rs for why it exists.

fn main() {
    println!("cargo:rerun-if-changed=csrc/strict_jpeg.c");
    cc::Build::new()
        .file("csrc/strict_jpeg.c")
        .warnings(true)
        .extra_warnings(true)
        .opt_level(2)
        .compile("framekeep_strict_jpeg");
    println!("cargo:rustc-link-lib=jpeg");
}
