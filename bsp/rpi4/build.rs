//! Linked at this board's load address (RAM base 0 + 2 MiB).
fn main() {
    halyard_link::at(0x20_0000);
}
