//! Placeholder main job until the pipeline lands.
fn main() {
    println!("framekeep: pipeline not built yet");
}
