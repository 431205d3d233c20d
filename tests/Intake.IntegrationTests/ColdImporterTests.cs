using System.IO.Compression;
using System.Text;
using Intake.Core.Model;
using Intake.Core.Ports;
using Intake.Engine.Configuration;
using Intake.Engine.Runtime;
using Intake.Tests.Shared;
using Npgsql;

namespace Intake.IntegrationTests;

/// <summary>Where the real servers the COLD pipeline uses are: from scripts/servers (INTAKE_TEST_FTP, INTAKE_TEST_S3).</summary>
internal static class ColdServers
{
    public static Dictionary<string, string> Ftp => TestServers.Settings("INTAKE_TEST_FTP");
    public static Dictionary<string, string> S3 => TestServers.Settings("INTAKE_TEST_S3");

    public static bool Available => Ftp.ContainsKey("host") && S3.ContainsKey("url") && TestPostgres.IsReachable;
}

/// <summary>Needs vsftpd, s3rver and PostgreSQL: skipped on a machine without them, failing in CI.</summary>
public sealed class ColdFactAttribute : FactAttribute
{
    public ColdFactAttribute() =>
        Skip = TestServers.SkipUnless(ColdServers.Available, "vsftpd, s3rver and PostgreSQL are not all running (scripts/test.sh starts them)");
}

/// <summary>
/// The COLD importer's failure list, each against the real server misbehaving: the FTP connection cut or
/// refused, files that are not archives, empty or disagree with their metadata, the S3 server gone
/// during an upload, the PostgreSQL connection killed during the copy, a value that cannot be cast.
/// Each checks the load's status and error kind, and that nothing was lost or loaded twice.
/// </summary>
public sealed class ColdImporterTests : IAsyncLifetime
{
    private readonly TestWorkspace _ws = new();
    private readonly string _ftpFolder = "cold-" + Guid.NewGuid().ToString("N")[..8];
    private readonly string _bucket = "cold-" + Guid.NewGuid().ToString("N")[..8];
    private string _warehouse = "";
    private string _catalog = "";

    private static Dictionary<string, string> Ftp => ColdServers.Ftp;
    private static Dictionary<string, string> S3 => ColdServers.S3;

    public async Task InitializeAsync()
    {
        _catalog = await TestPostgres.CreateDatabaseAsync("cold_cat");
        _warehouse = await TestPostgres.CreateDatabaseAsync("cold_wh");
        Directory.CreateDirectory(FtpFolder);
        using var http = new HttpClient();
        foreach (var bucket in new[] { _bucket, _bucket + "-raw" })
        {
            (await http.PutAsync($"{S3["url"]}/{bucket}", null)).EnsureSuccessStatusCode(); // s3rver takes unsigned bucket creation
        }
    }

    public Task DisposeAsync()
    {
        _ws.Dispose();
        Directory.Delete(FtpFolder, recursive: true);
        return Task.CompletedTask;
    }

    private string FtpFolder => Path.Combine(Ftp["home"], _ftpFolder);

    private void Configure(int? ftpPort = null, string? s3Url = null, string retry = "{ max_attempts: 3, base_delay: 20ms, max_delay: 100ms }")
    {
        File.WriteAllText(Path.Combine(_ws.Root, "intake.yaml"), $"""
            catalog: {"{"} kind: postgres, connection: "{_catalog}" {"}"}
            stores:
              s3:
                kind: s3
                url: {s3Url ?? S3["url"]}
                bucket: {_bucket}
                access_key: {S3["access_key"]}
                secret_key: {S3["secret_key"]}
                area_buckets: {"{"} raw: {_bucket}-raw {"}"}
              scratch: {"{"} kind: local, root: .intake/scratch {"}"}
            warehouses:
              wh: {"{"} kind: postgres, connection: "{_warehouse}" {"}"}
            defaults:
              store: s3
              warehouse: wh
              retry: {retry}
            """);
        File.WriteAllText(Path.Combine(_ws.Root, "pipelines", "props.yaml"), $"""
            name: props
            customer: cold
            type: properties
            source:
              kind: ftp
              host: {Ftp["host"]}
              port: {ftpPort ?? int.Parse(Ftp["port"], System.Globalization.CultureInfo.InvariantCulture)}
              user: {Ftp["user"]}
              password: {Ftp["password"]}
              path: {_ftpFolder}
              include: ["*.zip", "*.gz"]
              stable_for: 0s
              timeout: 5s
            work_store: scratch
            steps: [fetch, decompress, validate, archive, copy, load, merge]
            error_codes: cold
            validate:
              manifest_entry: "*.meta.json"
            copy: {"{"} area: raw, key_template: "{"{"}type{"}"}/{"{"}name{"}"}" {"}"}
            load:
              table: staging.props
              columns: {"{"} id: bigint not null, name: text, amount: decimal {"}"}
            merge:
              target: app.props
              key: [id]
              setup: app.sql
              version_column: source_load
              transform: transform.sql
            """);
        File.WriteAllText(Path.Combine(_ws.Root, "pipelines", "app.sql"), "create schema if not exists app; create table if not exists app.props (id bigint primary key, name text, amount numeric, source_load bigint);");
        File.WriteAllText(Path.Combine(_ws.Root, "pipelines", "transform.sql"), "select id, name, amount, _intake_load_id as source_load from {staging} where _intake_load_id = {load_id}");
    }

    private static string Csv(int rows, int start = 1)
    {
        var sb = new StringBuilder("id,name,amount\n");
        for (var i = start; i < start + rows; i++)
        {
            sb.Append(i).Append(",property ").Append(i).Append(' ').Append(Guid.NewGuid().ToString("N")).Append(',').Append(i % 977).Append(".5\n");
        }

        return sb.ToString();
    }

    private static string Meta(string file, string csv, int? rows = null) =>
        $$"""{"file": "{{file}}", "rows": {{rows ?? csv.Count(c => c == '\n') - 1}}, "size": {{Encoding.UTF8.GetByteCount(csv)}}}""";

    private void PutZip(string name, params (string Entry, string Content)[] entries)
    {
        using var z = ZipFile.Open(Path.Combine(FtpFolder, name), ZipArchiveMode.Create);
        foreach (var (entry, content) in entries)
        {
            using var s = z.CreateEntry(entry, CompressionLevel.Fastest).Open();
            s.Write(Encoding.UTF8.GetBytes(content));
        }
    }

    private void PutDataZip(string name, int rows, int start = 1, int? claimedRows = null)
    {
        var csv = Csv(rows, start);
        PutZip(name, ("data.csv", csv), ("data.meta.json", Meta("data.csv", csv, claimedRows)));
    }

    private async Task<IntakeRuntime> OpenAsync() => await IntakeRuntime.OpenAsync(ConfigLoader.Load(Path.Combine(_ws.Root, "intake.yaml")));

    private static async Task<IReadOnlyList<Load>> RunOnceAsync(IntakeRuntime runtime)
    {
        await new Runner(runtime).RunAsync(new RunOptions { Once = true, Workers = 1 }, default);
        return await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default);
    }

    private async Task<long> WarehouseScalarAsync(string sql)
    {
        await using var c = new NpgsqlConnection(_warehouse);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private async Task<int> ObjectsUnderAsync(IntakeRuntime runtime, string area)
    {
        var n = 0;
        await foreach (var _ in runtime.Stores["s3"].ListAsync(area, "", default))
        {
            n++;
        }

        return n;
    }

    [ColdFact]
    public async Task FtpConnectionCutMidTransfer_IsResumed_AndEveryRowIsLoadedOnce()
    {
        PutDataZip("big.zip", 20_000);
        await using var proxy = new FtpProxy(Ftp["host"], int.Parse(Ftp["port"], System.Globalization.CultureInfo.InvariantCulture)) { CutDataAfterBytes = 100_000, CutsLeft = 2 };
        Configure(ftpPort: proxy.Port);
        await using var runtime = await OpenAsync();

        var load = (await RunOnceAsync(runtime)).ShouldHaveSingleItem();

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        proxy.Cuts.ShouldBeGreaterThanOrEqualTo(1);
        (await WarehouseScalarAsync("select count(*) from staging.props")).ShouldBe(20_000);
        (await WarehouseScalarAsync("select count(*) from app.props")).ShouldBe(20_000);
        (await runtime.Catalog.GetStepsAsync(load.Id, default)).Count(s => s.Step == "fetch").ShouldBe(1); // resumed inside the step, not refetched
    }

    [ColdFact]
    public async Task FtpConnectionRefused_IsTransient_RetriedThenErrored_AndARedriveResumesIt()
    {
        PutDataZip("jan.zip", 500);
        var proxy = new FtpProxy(Ftp["host"], int.Parse(Ftp["port"], System.Globalization.CultureInfo.InvariantCulture));
        Configure(ftpPort: proxy.Port);
        await using (var runtime = await OpenAsync())
        {
            await new Discovery(runtime).DiscoverAsync(runtime.Pipeline("props"), default);
            await proxy.DisposeAsync(); // the server goes away after listing: connections are refused
            var failed = (await RunOnceAsync(runtime)).ShouldHaveSingleItem();

            failed.Status.ShouldBe(LoadStatus.Errored);
            failed.ErrorKind.ShouldBe(Core.Errors.ErrorKind.Transient);
            failed.ErrorCode.ShouldBe("FTPServerNetworkDownloadException");
            failed.ErrorMessage!.ShouldNotContain("Exception");
            (await runtime.Catalog.GetStepsAsync(failed.Id, default)).Count(s => s.Step == "fetch").ShouldBe(3);
            (await runtime.Catalog.TransitionAsync(failed.Id, LoadStatus.Errored, LoadStatus.Ready, new TransitionDetails { ClearError = true, ResetAttempts = true }, default)).ShouldBeTrue();
        }

        Configure(); // the server is back (directly)
        await using var again = await OpenAsync();
        var load = (await RunOnceAsync(again)).ShouldHaveSingleItem();

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        (await WarehouseScalarAsync("select count(*) from app.props")).ShouldBe(500);
    }

    [ColdFact]
    public async Task NotAnArchive_EmptyArchive_AndMetadataThatDisagrees_AreFormatEmptyAndIntegrity_WithTheOriginalsKept()
    {
        File.WriteAllText(Path.Combine(FtpFolder, "notes.zip"), "this is neither a zip nor a tar\n");
        PutZip("empty.zip");
        PutDataZip("short.zip", 100, claimedRows: 101);
        PutDataZip("good.zip", 100, start: 1000);
        Configure();
        await using var runtime = await OpenAsync();

        var loads = (await RunOnceAsync(runtime)).ToDictionary(l => l.SourceKey);

        (loads["notes.zip"].Status, loads["notes.zip"].ErrorKind).ShouldBe((LoadStatus.Errored, Core.Errors.ErrorKind.Format));
        (loads["empty.zip"].Status, loads["empty.zip"].ErrorKind).ShouldBe((LoadStatus.Errored, Core.Errors.ErrorKind.Empty));
        (loads["short.zip"].Status, loads["short.zip"].ErrorKind).ShouldBe((LoadStatus.Errored, Core.Errors.ErrorKind.Integrity));
        loads["short.zip"].ErrorMessage!.ShouldContain("has 100 data rows, data.meta.json says 101");
        loads["good.zip"].Status.ShouldBe(LoadStatus.Archived);
        (await ObjectsUnderAsync(runtime, Areas.Error)).ShouldBe(3); // every failed original kept in the error area
        (await WarehouseScalarAsync("select count(*) from app.props")).ShouldBe(100); // only the good file's rows
    }

    [ColdFact]
    public async Task S3ServerGoneDuringTheUpload_IsRetriedThenErrored_WithNoPartialObject_AndARedriveArchivesIt()
    {
        PutDataZip("big.zip", 30_000); // over a megabyte: the proxy cuts the upload in its middle
        await using (var proxy = new CuttingProxy(new Uri(S3["url"]), cutAfter: 300_000))
        {
            Configure(s3Url: proxy.Url);
            await using var runtime = await OpenAsync();
            var failed = (await RunOnceAsync(runtime)).ShouldHaveSingleItem();

            proxy.HasCut.ShouldBeTrue();
            failed.Status.ShouldBe(LoadStatus.Errored);
            failed.ErrorKind.ShouldBe(Core.Errors.ErrorKind.Transient);
            (await runtime.Catalog.GetStepsAsync(failed.Id, default)).Count(s => s.Step == "fetch" && s.Outcome == StepOutcome.Failed).ShouldBe(3);
        }

        Configure(); // S3 is back
        await using var again = await OpenAsync();
        var original = new FileInfo(Path.Combine(FtpFolder, "big.zip")).Length;
        // Real S3 never shows an interrupted PUT; s3rver writes a single PUT straight to its file, so a cut
        // upload can leave a truncated object there. Intake must never take it for the original:
        await foreach (var o in again.Stores["s3"].ListAsync(Areas.Inbox, "", default))
        {
            o.Size.ShouldBeLessThan(original);
        }

        var id = (await again.Catalog.ListLoadsAsync(new LoadQuery(), default)).Single().Id;
        (await again.Catalog.TransitionAsync(id, LoadStatus.Errored, LoadStatus.Ready, new TransitionDetails { ClearError = true, ResetAttempts = true }, default)).ShouldBeTrue();

        var load = (await RunOnceAsync(again)).ShouldHaveSingleItem();

        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        (await ObjectsUnderAsync(again, Areas.Inbox)).ShouldBe(1);
        await foreach (var o in again.Stores["s3"].ListAsync(Areas.Inbox, "", default))
        {
            o.Size.ShouldBe(original); // the complete original replaced the truncated one
        }

        (await ObjectsUnderAsync(again, Areas.Archive)).ShouldBe(1);
        (await ObjectsUnderAsync(again, "raw")).ShouldBe(1);
        (await WarehouseScalarAsync("select count(*) from app.props")).ShouldBe(30_000);
    }

    [ColdFact]
    public async Task PostgresConnectionKilledDuringTheCopy_IsRolledBackAndRetried_WithNoDuplicateRows()
    {
        PutDataZip("big.zip", 300_000);
        Configure();
        await using var runtime = await OpenAsync();
        var run = Task.Run(() => RunOnceAsync(runtime));
        var database = new NpgsqlConnectionStringBuilder(_warehouse).Database;
        var killed = 0;
        await using (var admin = new NpgsqlConnection(TestPostgres.ServerConnectionString))
        {
            await admin.OpenAsync();
            for (var i = 0; i < 1200 && killed == 0 && !run.IsCompleted; i++)
            {
                await using var kill = new NpgsqlCommand(
                    "select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = @db and query ilike 'copy %'", admin);
                kill.Parameters.AddWithValue("db", database!);
                killed = Convert.ToInt32(await kill.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
                await Task.Delay(25);
            }
        }

        var load = (await run).ShouldHaveSingleItem();

        killed.ShouldBeGreaterThan(0, "the copy finished before it could be interrupted; make the file larger");
        load.Status.ShouldBe(LoadStatus.Archived, load.ErrorMessage);
        var loadSteps = (await runtime.Catalog.GetStepsAsync(load.Id, default)).Where(s => s.Step == "load").ToList();
        loadSteps.Select(s => s.Outcome).ShouldBe([StepOutcome.Failed, StepOutcome.Succeeded]);
        loadSteps[0].ErrorKind.ShouldBe(Core.Errors.ErrorKind.Transient);
        (await WarehouseScalarAsync("select count(*) from staging.props")).ShouldBe(300_000);
        (await WarehouseScalarAsync("select count(distinct id) from staging.props")).ShouldBe(300_000);
    }

    [ColdFact]
    public async Task ValueThatCannotBeCast_IsASchemaError_NamingRowAndColumn_AndNothingIsMerged()
    {
        var csv = "id,name,amount\n1,a,1\n2,b,two\n";
        PutZip("bad.zip", ("data.csv", csv), ("data.meta.json", Meta("data.csv", csv)));
        Configure();
        await using var runtime = await OpenAsync();

        var load = (await RunOnceAsync(runtime)).ShouldHaveSingleItem();

        load.Status.ShouldBe(LoadStatus.Errored);
        load.ErrorKind.ShouldBe(Core.Errors.ErrorKind.Schema);
        load.ErrorMessage!.ShouldContain("row 2");
        load.ErrorMessage!.ShouldContain("amount");
        (await WarehouseScalarAsync("select count(*) from information_schema.tables where table_schema = 'app' and table_name = 'props'")).ShouldBe(0);
        (await runtime.Catalog.GetStepsAsync(load.Id, default)).ShouldNotContain(s => s.Step == "merge");
    }
}
