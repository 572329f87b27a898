fn main() -> std::process::ExitCode {
    connect_sso_operator::cli::main()
}
