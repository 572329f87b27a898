//! The commands of the `connect-sso-operator` binary.

pub mod leader;
pub mod memory;
pub mod plan;
pub mod run;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "connect-sso-operator",
    version,
    about = "Single sign-on from OneLogin into Amazon Connect, declared in Kubernetes"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the CustomResourceDefinitions as YAML.
    Crds,
    /// Show, offline, what the operator would create for the resources in a file.
    Plan(PlanArgs),
    /// Run the controllers.
    Run(run::RunArgs),
}

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// YAML file(s) with ConnectSsoApp and ConnectUserMapping documents; `-` reads stdin.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Namespace of documents that do not name one.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// Domain of the instance's website, which the operator reads from DescribeInstance when online.
    #[arg(long, value_enum, default_value_t = DomainArg::MyConnectAws)]
    pub instance_domain: DomainArg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DomainArg {
    /// `<alias>.my.connect.aws`
    MyConnectAws,
    /// `<alias>.awsapps.com` (instances not yet moved to the new domain)
    Awsapps,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crds => crate::crds::all_yaml()
            .map(|yaml| print!("{yaml}"))
            .map_err(|e| e.to_string()),
        Command::Plan(args) => plan::run(&args, &mut std::io::stdout()).map_err(|e| e.to_string()),
        Command::Run(args) => run::run(&args).map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
