import TmemCLI

/// The `tmem` executable: a thin `@main`. Parsing and running live in `TmemCLI`, where tests reach them.
@main
enum TmemMain {
    static func main() {
        TmemCommand.main()
    }
}
