use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use switchboard::Application;
use switchboard::config::Config;

/// Switchboard: real-time messaging server for customer conversations.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// TOML configuration file; environment variables override it.
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    config: Option<PathBuf>,
}

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("switchboard: {err}");
            return ExitCode::from(2);
        }
    };
    switchboard::telemetry::init_logs(&config.log);
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(err) => {
            tracing::error!(error = %err, "switchboard could not start");
            eprintln!("switchboard: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(owner) = app.first_owner() {
        // Printed, not logged: log pipelines keep lines forever, this must be seen once.
        println!(
            "Switchboard first start: created tenant '{}' and its owner.",
            owner.tenant_slug
        );
        println!("  tenant:   {}", owner.tenant_slug);
        println!("  email:    {}", owner.email);
        if owner.generated {
            println!("  password: {}", owner.password.expose());
            println!(
                "This password is shown only now. Sign in and change it (POST /api/v1/auth/password)."
            );
        } else {
            println!("  password: (as configured in bootstrap.owner_password)");
        }
    }
    tracing::info!(port = app.port(), "switchboard listening");
    match app.run_until_stopped().await {
        Ok(()) => {
            tracing::info!("switchboard stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!(error = %err, "server failed");
            ExitCode::FAILURE
        }
    }
}
