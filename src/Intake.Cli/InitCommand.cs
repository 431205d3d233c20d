using System.CommandLine;

namespace Intake.Cli;

/// <summary><c>intake init</c>: a starter configuration that runs as it is, on the embedded default.</summary>
internal static class InitCommand
{
    public const string IntakeYaml = """
        # Intake configuration. Relative paths are resolved from this file's folder.
        # ${VAR} and ${VAR:-default} are taken from the environment, then from .env beside this file.
        catalog:
          kind: sqlite                 # sqlite (embedded, one process) or postgres (many workers)
          path: .intake/catalog.db
          # kind: postgres
          # connection: ${INTAKE_CATALOG}
        stores:
          local:
            kind: local                # a local directory with the areas inbox, work, archive, error
            root: .intake/store
        warehouses:
          main:
            kind: sqlite
            path: .intake/warehouse.db
          # pg:
          #   kind: postgres
          #   connection: ${INTAKE_WAREHOUSE}
        defaults:
          store: local
          warehouse: main
          customer: default
          retry: { max_attempts: 4, base_delay: 1s, max_delay: 30s }
          max_load_attempts: 3
          lease: 2m
          limits: { max_bytes: 10GiB, max_ratio: 200, max_entries: 10000 }
        pipelines: pipelines
        """;

    public const string PipelineYaml = """
        # A pipeline: one source, the steps, and where the data goes.
        name: incoming
        customer: default
        category: files
        type: csv
        source:
          kind: local
          path: ../incoming            # relative to this file
          include: ["**/*.csv", "**/*.csv.gz", "**/*.zip", "**/*.tar", "**/*.tar.gz", "**/*.tgz"]
          exclude: ["**/*.tmp"]
          stable_for: 10s              # files still being written are left for the next poll
        steps: [fetch, decompress, validate, archive, load]
        validate:
          manifest: "{name}.manifest.json"   # optional sidecar: {"rows": 1000, "size": 12345, "sha256": "..."}
        csv:
          delimiter: ","
          encoding: utf-8
        load:
          table: incoming_rows         # created from the CSV header as text columns, or declare:
          # columns:
          #   id: bigint not null
          #   amount: decimal
        """;

    public static Command Build()
    {
        var dir = new Argument<string>("DIR") { Description = "Folder to create the configuration in", DefaultValueFactory = _ => "." };
        var force = new Option<bool>("--force") { Description = "Overwrite existing files" };
        var cmd = new Command("init", "Write a starter intake.yaml, pipelines/incoming.yaml and an incoming/ folder.") { dir, force };
        cmd.SetAction(parse =>
        {
            var root = Path.GetFullPath(parse.GetValue(dir)!);
            var files = new Dictionary<string, string>
            {
                [Path.Combine(root, "intake.yaml")] = IntakeYaml,
                [Path.Combine(root, "pipelines", "incoming.yaml")] = PipelineYaml,
            };
            if (!parse.GetValue(force) && files.Keys.FirstOrDefault(File.Exists) is { } existing)
            {
                Console.Error.WriteLine($"intake: {existing} exists; use --force to overwrite");
                return ExitCodes.Usage;
            }

            foreach (var (path, text) in files)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllText(path, text + Environment.NewLine);
                Console.Out.WriteLine($"wrote {path}");
            }

            Directory.CreateDirectory(Path.Combine(root, "incoming"));
            Console.Out.WriteLine($"Put files in {Path.Combine(root, "incoming")}, then run: intake run --once --config {root}");
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
