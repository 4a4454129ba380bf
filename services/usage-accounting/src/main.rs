fn main() -> std::process::ExitCode {
    // `usage-accounting retention [--dry-run]`: apply retention once and exit.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("retention") {
        return usage_accounting::cli::retention(&args[1..]);
    }
    service_kit::bootstrap::run_service(
        "usage-accounting",
        service_kit::auth::AuthSettings::new(service_kit::auth::Issuer::Usage, false),
        usage_accounting::Config::from_env,
        |config| config.listen_addr.clone(),
        usage_accounting::run,
    )
}
