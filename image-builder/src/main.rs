fn main() {
    eprintln!("image-builder: not yet implemented");
    std::process::exit(2);
}
