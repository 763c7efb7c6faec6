//! The fuzz targets, one per line (`--about`: with what each feeds); for
//! scripts/fuzz.
fn main() {
    let about = std::env::args().any(|a| a == "--about");
    for t in halyard_fuzz::TARGETS {
        if about {
            println!("{:<18} {}", t.name, t.about);
        } else {
            println!("{}", t.name);
        }
    }
}
