using System.Security.Cryptography;
using System.Text;
using Intake.Core.Ports;
using Intake.Engine.Mail;
using Intake.Engine.Tests.Support;
using Intake.Tests.Shared;
using Xunit.Sdk;

namespace Intake.Engine.Tests.Mail;

/// <summary>A fact of the mail receiver suite, run once per catalog and store (see <see cref="ComplianceFactDiscoverer"/>).</summary>
[XunitTestCaseDiscoverer("Intake.Tests.Shared.ComplianceFactDiscoverer", "Intake.Engine.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class MailFactAttribute : FactAttribute;

/// <summary>The embedded default: SQLite catalog, local store.</summary>
public sealed class MailReceiverSqliteTests : MailReceiverSuite
{
    protected override Task<MailProject> CreateProjectAsync() => Task.FromResult(new MailProject());

    /// <summary>A store that cannot take the original (its inbox is a file, not a folder): nothing is acknowledged, nothing registered.</summary>
    [Fact]
    public async Task Receive_StoreCannotWrite_TempFails_WithoutALoad_AndTheRetryTakesIt()
    {
        await using var project = new MailProject();
        Directory.CreateDirectory(project.Stored(""));
        await File.WriteAllTextAsync(project.Stored("inbox"), "in the way");
        var runtime = await project.OpenAsync();
        var receiver = new MailReceiver(runtime);

        var failed = await MailProject.ReceiveAsync(receiver, MailProject.Message());

        failed.Outcome.ShouldBe(MailReceiveOutcome.TemporaryFailure);
        failed.LoadId.ShouldBeNull();
        failed.Message.ShouldStartWith("cannot keep the message now, try again later:");
        (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldBeEmpty();

        File.Delete(project.Stored("inbox"));
        project.Clock.Advance(TimeSpan.FromMinutes(5)); // Postfix's retry, later
        var retried = await MailProject.ReceiveAsync(receiver, MailProject.Message());

        retried.Outcome.ShouldBe(MailReceiveOutcome.Accepted);
        var load = (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldHaveSingleItem();
        (await runtime.Catalog.GetLoadAsync(load.Id, default))!.Id.ShouldBe(retried.LoadId!.Value);
        Directory.GetDirectories(project.Stored("inbox/acme/hydrastor/system_report/icecream_machine")).ShouldHaveSingleItem()
            .ShouldEndWith("20230113_120000_" + Sha(MailProject.Message())[..8]); // the folder of the first arrival, not of the retry
    }
}

/// <summary>
/// A worker may claim a mail load the moment the receiver registers it, before the receiver says anything more: it must
/// find the <c>receive</c> step done (recorded with the load), not run it again beside the receiver. The CI of
/// 2026-12-04 saw <c>receive, receive, route, ...</c> when the receiver recorded the step after registering the load.
/// </summary>
public sealed class MailReceiverRaceTests
{
    [Fact]
    public async Task Worker_ClaimingTheLoadTheMomentItIsRegistered_FindsReceiveDone_AndItIsRecordedOnce()
    {
        await using var project = new MailProject();
        var runtime = await project.OpenAsync();
        var receiverDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var workerCatalog = new StartsAfter(runtime.Catalog, receiverDone.Task);
        var worker = new Worker(runtime.WithCatalog(workerCatalog));
        var receiverCatalog = new WorkerOnRegister(runtime.Catalog, () => worker.RunOneAsync(null, default), workerCatalog.Starting);

        var receipt = await MailProject.ReceiveAsync(new MailReceiver(runtime.WithCatalog(receiverCatalog)), MailProject.Message());
        receiverDone.SetResult();
        (await receiverCatalog.Worker!)!.Status.ShouldBe(LoadStatus.ReadyForArchiving); // a catalog of the port's own stage end: no carrying on
        (await worker.RunOneAsync(null, default))!.Status.ShouldBe(LoadStatus.Archived);

        receipt.Outcome.ShouldBe(MailReceiveOutcome.Accepted);
        var steps = await runtime.Catalog.GetStepsAsync(receipt.LoadId!.Value, default);
        steps.Select(s => (s.Step, s.Outcome)).ShouldBe([("receive", StepOutcome.Succeeded), ("route", StepOutcome.Succeeded), ("archive", StepOutcome.Succeeded)]);
        steps[0].Worker.ShouldStartWith("mail:");
    }

    /// <summary>The receiver's catalog: a registration lets the worker in at once, up to its first step record, before it returns.</summary>
    private sealed class WorkerOnRegister(ICatalog inner, Func<Task<Load?>> work, Task workerStarting) : ForwardingCatalog(inner)
    {
        public Task<Load?>? Worker { get; private set; }

        public override async Task<RegisterResult> RegisterLoadAsync(NewLoad load, CancellationToken cancellationToken)
        {
            var registered = await Inner.RegisterLoadAsync(load, cancellationToken);
            Worker = Task.Run(work, cancellationToken);
            await Task.WhenAny(workerStarting, Worker);
            return registered;
        }
    }

    /// <summary>The worker's catalog: its first step record is written only once the receiver is done with the message.</summary>
    private sealed class StartsAfter(ICatalog inner, Task receiverDone) : ForwardingCatalog(inner)
    {
        private readonly TaskCompletionSource _starting = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Starting => _starting.Task;

        public override async Task<long> StartStepAsync(long loadId, string step, int attempt, string? worker, CancellationToken cancellationToken)
        {
            _starting.TrySetResult();
            await receiverDone;
            return await Inner.StartStepAsync(loadId, step, attempt, worker, cancellationToken);
        }
    }
}

/// <summary>The PostgreSQL catalog (INTAKE_TEST_PG), local store.</summary>
[RequiresServer(typeof(PostgresFactAttribute))]
public sealed class MailReceiverPostgresTests : MailReceiverSuite
{
    protected override async Task<MailProject> CreateProjectAsync() =>
        new MailProject(catalog: $"{{ kind: postgres, connection: \"{await TestPostgres.CreateDatabaseAsync("mail")}\" }}");
}

/// <summary>SQLite catalog, the store a bucket of the S3-compatible test server (INTAKE_TEST_S3).</summary>
[RequiresServer(typeof(S3ServerFactAttribute))]
public sealed class MailReceiverS3Tests : MailReceiverSuite
{
    protected override async Task<MailProject> CreateProjectAsync()
    {
        var s3 = TestServers.Settings("INTAKE_TEST_S3");
        var bucket = $"mail-{Guid.NewGuid():N}"[..30];
        using var http = new HttpClient();
        (await http.PutAsync($"{s3["url"]}/{bucket}", null)).EnsureSuccessStatusCode(); // the test server takes unsigned requests
        return new MailProject(store: $"{{ kind: s3, url: \"{s3["url"]}\", bucket: {bucket}, access_key: {s3["access_key"]}, secret_key: {s3["secret_key"]} }}");
    }
}

/// <summary>
/// The mail receiver and a mail load's steps, against each catalog and store: the original durable in the inbox under
/// its route's folder before the load exists, the same message twice one load, nothing kept for an unknown recipient or
/// an oversized message, and a message no route takes kept, errored as config, and archived under its route once the
/// routes are fixed and it is re-driven.
/// </summary>
public abstract class MailReceiverSuite : IAsyncLifetime
{
    private const string Folder = "acme/hydrastor/system_report/icecream_machine/20230113_120000_";

    private MailProject _project = null!;

    protected abstract Task<MailProject> CreateProjectAsync();

    public async Task InitializeAsync() => _project = await CreateProjectAsync();

    public async Task DisposeAsync() => await _project.DisposeAsync();

    protected static string Sha(byte[] message) => Convert.ToHexStringLower(SHA256.HashData(message));

    private static async Task<List<string>> KeysAsync(IObjectStore store, string area)
    {
        var keys = new List<string>();
        await foreach (var o in store.ListAsync(area, "", default))
        {
            keys.Add(o.Key);
        }

        return keys;
    }

    private static async Task<byte[]> ReadAsync(IObjectStore store, string area, string key)
    {
        await using var stream = await store.OpenReadAsync(area, key, default);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    [MailFact]
    public async Task Receive_RoutedMessage_IsInTheInboxUnderItsRouteFolder_AndOneLoadWithItsReceiveStep()
    {
        var runtime = await _project.OpenAsync();
        var message = MailProject.Message();

        var receipt = await MailProject.ReceiveAsync(new MailReceiver(runtime), message);

        receipt.Outcome.ShouldBe(MailReceiveOutcome.Accepted);
        var key = Folder + Sha(message)[..8] + "/message.eml";
        (await ReadAsync(runtime.StoreFor(runtime.Pipeline("mail")), Areas.Inbox, key)).ShouldBe(message);
        var load = (await runtime.Catalog.GetLoadAsync(receipt.LoadId!.Value, default)).ShouldNotBeNull();
        load.Status.ShouldBe(LoadStatus.Ready);
        load.Customer.ShouldBe("acme");
        load.SourceKey.ShouldBe("report-1@hydrastor.example");
        load.Fingerprint.ShouldBe("sha256:" + Sha(message));
        load.InboxKey.ShouldBe(key); // from the start: show, the API and the UI see where the message is
        var receive = (await runtime.Catalog.GetStepsAsync(load.Id, default)).ShouldHaveSingleItem();
        receive.Step.ShouldBe("receive");
        receive.Outcome.ShouldBe(StepOutcome.Succeeded);
        receive.Outputs.ShouldBe([$"inbox:{key}"]);
        receive.Message!.ShouldContain("from nas1@hydrastor.example to reports+bobs_burgers.s3cret-token@hview.example, Message-ID <report-1@hydrastor.example>");
    }

    [MailFact]
    public async Task Receive_SameMessageTwice_IsOneLoad_AndOneCopy()
    {
        var runtime = await _project.OpenAsync();
        var receiver = new MailReceiver(runtime);

        var first = await MailProject.ReceiveAsync(receiver, MailProject.Message());
        _project.Clock.Advance(TimeSpan.FromMinutes(1));
        var second = await MailProject.ReceiveAsync(receiver, MailProject.Message());

        first.Outcome.ShouldBe(MailReceiveOutcome.Accepted);
        second.Outcome.ShouldBe(MailReceiveOutcome.Duplicate);
        second.LoadId.ShouldBe(first.LoadId);
        (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldHaveSingleItem();
        (await KeysAsync(runtime.StoreFor(runtime.Pipeline("mail")), Areas.Inbox)).ShouldHaveSingleItem();
        (await runtime.Catalog.GetStepsAsync(first.LoadId!.Value, default)).ShouldHaveSingleItem().Step.ShouldBe("receive");
    }

    [MailFact]
    public async Task Receive_SameMessageIdOtherContent_IsASecondLoad()
    {
        var runtime = await _project.OpenAsync();
        var receiver = new MailReceiver(runtime);

        var first = await MailProject.ReceiveAsync(receiver, MailProject.Message(body: "Capacity: 42%\r\n"));
        var second = await MailProject.ReceiveAsync(receiver, MailProject.Message(body: "Capacity: 43%\r\n"));

        second.Outcome.ShouldBe(MailReceiveOutcome.Accepted);
        second.LoadId.ShouldNotBe(first.LoadId);
    }

    /// <summary>What Postfix's pipe puts above a message it delivers: its Return-Path, Delivered-To, X-Original-To and Received.</summary>
    private static byte[] Traced(byte[] message, string hop, string more = "") =>
        [.. Encoding.ASCII.GetBytes($"Return-Path: <nas1@hydrastor.example>\r\nX-Original-To: reports@hview.example\r\nDelivered-To: reports@hview.example\r\n" +
            $"Received: from nas1.hydrastor.example (nas1 [10.0.0.7])\r\n\tby mx.hview.example (Postfix) with ESMTP id {hop}\r\n\tfor <reports@hview.example>; Fri, 13 Jan 2023 12:00:0{hop.Length % 10} +0000 (UTC)\r\n" + more), .. message];

    [MailFact]
    public async Task Receive_SameMessageSentAgainWithOtherTraceFields_IsOneLoad_AndTheInboxKeepsTheFirstCopyByteForByte()
    {
        var runtime = await _project.OpenAsync();
        var receiver = new MailReceiver(runtime);
        var first = Traced(MailProject.Message(), "4Nx1aB");
        var again = Traced(MailProject.Message(), "9Qz7kLm2");

        var one = await MailProject.ReceiveAsync(receiver, first);
        _project.Clock.Advance(TimeSpan.FromMinutes(10));
        var two = await MailProject.ReceiveAsync(receiver, again);

        one.Outcome.ShouldBe(MailReceiveOutcome.Accepted);
        two.Outcome.ShouldBe(MailReceiveOutcome.Duplicate);
        two.LoadId.ShouldBe(one.LoadId);
        var load = (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldHaveSingleItem();
        load.Fingerprint.ShouldBe("sha256:" + Sha(MailProject.Message())); // the trace fields left out
        var store = runtime.StoreFor(runtime.Pipeline("mail"));
        var key = (await KeysAsync(store, Areas.Inbox)).ShouldHaveSingleItem();
        (await ReadAsync(store, Areas.Inbox, key)).ShouldBe(first); // never modified: the first copy, its trace fields too
    }

    [MailFact]
    public async Task Receive_SameTraceFieldsButAnotherBody_IsTwoLoads()
    {
        var runtime = await _project.OpenAsync();
        var receiver = new MailReceiver(runtime);

        var one = await MailProject.ReceiveAsync(receiver, Traced(MailProject.Message(body: "Capacity: 42%\r\n"), "4Nx1aB"));
        var two = await MailProject.ReceiveAsync(receiver, Traced(MailProject.Message(body: "Capacity: 43%\r\n"), "4Nx1aB"));

        two.Outcome.ShouldBe(MailReceiveOutcome.Accepted);
        two.LoadId.ShouldNotBe(one.LoadId);
        (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).Count.ShouldBe(2);
    }

    [MailFact]
    public async Task Receive_SameTraceFieldsButALaterFieldChanged_IsTwoLoads_EvenWhenThatFieldIsAReceived()
    {
        var runtime = await _project.OpenAsync();
        var receiver = new MailReceiver(runtime);

        var one = await MailProject.ReceiveAsync(receiver, Traced(MailProject.Message(), "4Nx1aB", "X-Mailer: reporter 1.0\r\n"));
        var two = await MailProject.ReceiveAsync(receiver, Traced(MailProject.Message(), "4Nx1aB", "X-Mailer: reporter 1.1\r\n"));
        var three = await MailProject.ReceiveAsync(receiver, Traced(MailProject.Message(), "4Nx1aB", "X-Mailer: reporter 1.0\r\nReceived: from inner (inner [10.0.0.8]); Fri, 13 Jan 2023 11:59:59 +0000\r\n"));

        new[] { one, two, three }.Select(r => r.Outcome).ShouldAllBe(o => o == MailReceiveOutcome.Accepted);
        (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).Count.ShouldBe(3);
    }

    /// <summary>The first delivery dies between its arrival record and its copy; the retry comes through another hop: its copy is kept, and checked against the arrival it rewrote.</summary>
    [MailFact]
    public async Task Receive_StoppedBeforeTheCopy_ARetryWithOtherTraceFields_KeepsItsOwnCopy_AsOneLoad()
    {
        var runtime = await _project.OpenAsync();
        var store = runtime.StoreFor(runtime.Pipeline("mail"));
        var first = Traced(MailProject.Message(), "4Nx1aB");
        var fingerprint = Sha(MailProject.Message());
        // What the first delivery left: its arrival (its size and SHA-256), no copy in the inbox, no load.
        await MailArrivals.WriteAsync(store, "mail", new MailArrival(fingerprint, first.Length, Folder + fingerprint[..8] + "/message.eml",
            _project.Clock.GetUtcNow(), "nas1@hydrastor.example", ["reports+bobs_burgers.s3cret-token@hview.example"], "test", "report-1@hydrastor.example", Sha(first)), default);

        var again = Traced(MailProject.Message(), "9Qz7kLm2");
        var retried = await MailProject.ReceiveAsync(new MailReceiver(runtime), again);

        retried.Outcome.ShouldBe(MailReceiveOutcome.Accepted, retried.Message);
        var key = (await KeysAsync(store, Areas.Inbox)).ShouldHaveSingleItem();
        (await ReadAsync(store, Areas.Inbox, key)).ShouldBe(again);
        (await MailProject.ReceiveAsync(new MailReceiver(runtime), first)).Outcome.ShouldBe(MailReceiveOutcome.Duplicate);
    }

    [MailFact]
    public async Task Receive_WithoutMessageId_IsKeyedByItsSha256()
    {
        var runtime = await _project.OpenAsync();
        var message = MailProject.Message(messageId: null);

        var receipt = await MailProject.ReceiveAsync(new MailReceiver(runtime), message);
        var again = await MailProject.ReceiveAsync(new MailReceiver(runtime), message);

        (await runtime.Catalog.GetLoadAsync(receipt.LoadId!.Value, default))!.SourceKey.ShouldBe("sha256:" + Sha(message));
        again.Outcome.ShouldBe(MailReceiveOutcome.Duplicate);
    }

    [MailFact]
    public async Task Receive_UnknownRecipient_IsRefused_AndNothingIsWritten()
    {
        var runtime = await _project.OpenAsync();
        var receiver = new MailReceiver(runtime);

        receiver.AcceptsRecipient("reports+bobs_burgers.guessed-token@hview.example").ShouldBeFalse();
        var receipt = await MailProject.ReceiveAsync(receiver, MailProject.Message(), MailProject.Envelope(recipient: "reports+bobs_burgers.guessed-token@hview.example"));

        receipt.Outcome.ShouldBe(MailReceiveOutcome.RecipientUnknown);
        receipt.Message.ShouldBe("no mail route takes reports+bobs_burgers.guessed-token@hview.example");
        (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldBeEmpty();
        (await KeysAsync(runtime.StoreFor(runtime.Pipeline("mail")), Areas.Inbox)).ShouldBeEmpty();
    }

    [MailFact]
    public async Task Receive_OverTheSizeLimit_IsTooLarge_AndNothingIsWritten()
    {
        _project.WritePipeline(MailProject.SystemReportRoute, "{ kind: mail, max_message_size: 2KiB }");
        var runtime = await _project.OpenAsync();
        var receiver = new MailReceiver(runtime);

        var receipt = await MailProject.ReceiveAsync(receiver, MailProject.Message(body: new string('x', 4096)));

        receiver.MaxMessageBytes.ShouldBe(2048);
        receipt.Outcome.ShouldBe(MailReceiveOutcome.TooLarge);
        receipt.Message.ShouldBe("the message is larger than 2048 bytes, the most this address takes");
        (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldBeEmpty();
        (await KeysAsync(runtime.StoreFor(runtime.Pipeline("mail")), Areas.Inbox)).ShouldBeEmpty();
    }

    /// <summary>
    /// The state a SIGKILL of <c>intake mail</c> leaves between the inbox write and the registration: the original is in
    /// the inbox, no load exists. Postfix delivers again: exactly one load, made from the copy already there.
    /// </summary>
    [MailFact]
    public async Task Receive_StoppedAfterTheInboxWrite_TheRetryRegistersTheSameCopyOnce()
    {
        var runtime = await _project.OpenAsync();
        var message = MailProject.Message();

        var dying = await MailProject.ReceiveAsync(new MailReceiver(runtime.WithCatalog(new UnreachableOnRegister(runtime.Catalog))), message);

        dying.Outcome.ShouldBe(MailReceiveOutcome.TemporaryFailure);
        dying.Message.ShouldContain("the catalog is unreachable");
        (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldBeEmpty();
        var store = runtime.StoreFor(runtime.Pipeline("mail"));
        var orphan = (await KeysAsync(store, Areas.Inbox)).ShouldHaveSingleItem();

        _project.Clock.Advance(TimeSpan.FromMinutes(5));
        var retried = await MailProject.ReceiveAsync(new MailReceiver(runtime), message);

        retried.Outcome.ShouldBe(MailReceiveOutcome.Accepted);
        (await runtime.Catalog.ListLoadsAsync(new LoadQuery(), default)).ShouldHaveSingleItem();
        (await KeysAsync(store, Areas.Inbox)).ShouldHaveSingleItem().ShouldBe(orphan);
        (await runtime.Catalog.GetStepsAsync(retried.LoadId!.Value, default)).ShouldHaveSingleItem().Outputs.ShouldBe([$"inbox:{orphan}"]);
    }

    [MailFact]
    public async Task Worker_RoutedMessage_IsArchivedUnderItsRouteFolder_WithItsSteps()
    {
        var runtime = await _project.OpenAsync();
        var message = MailProject.Message();
        var receipt = await MailProject.ReceiveAsync(new MailReceiver(runtime), message);

        await MailProject.DrainAsync(runtime);

        var load = (await runtime.Catalog.GetLoadAsync(receipt.LoadId!.Value, default))!;
        load.Status.ShouldBe(LoadStatus.Archived);
        var key = Folder + Sha(message)[..8] + "/message.eml";
        load.InboxKey.ShouldBe(key);
        var steps = await runtime.Catalog.GetStepsAsync(load.Id, default);
        steps.Select(s => (s.Step, s.Outcome)).ShouldBe([("receive", StepOutcome.Succeeded), ("route", StepOutcome.Succeeded), ("archive", StepOutcome.Succeeded)]);
        steps[1].Message.ShouldBe("route system_report: acme/hydrastor/system_report/icecream_machine");
        steps[1].Outputs.ShouldBe([$"inbox:{key}", "route:system_report", "target:acme/hydrastor/system_report/icecream_machine", """captures:{"customer":"bobs_burgers","grid":"icecream_machine"}"""]);
        (await ReadAsync(runtime.StoreFor(runtime.Pipeline("mail")), Areas.Archive, key)).ShouldBe(message);
    }

    [MailFact]
    public async Task Worker_Unroutable_IsKeptAndErroredAsConfig_ThenRedrivenAfterTheFix_IsArchivedUnderItsRoute()
    {
        var runtime = await _project.OpenAsync();
        var message = MailProject.Message(subject: "Systemreport icecream_machine");
        var receipt = await MailProject.ReceiveAsync(new MailReceiver(runtime), message);
        receipt.Outcome.ShouldBe(MailReceiveOutcome.Accepted);
        receipt.Message.ShouldContain("no route takes it");

        await MailProject.DrainAsync(runtime);

        var errored = (await runtime.Catalog.GetLoadAsync(receipt.LoadId!.Value, default))!;
        errored.Status.ShouldBe(LoadStatus.Errored);
        errored.ErrorKind.ShouldBe(ErrorKind.Config);
        errored.InboxKey.ShouldBe($"acme/data/unrouted/mail/20230113_120000_{Sha(message)[..8]}/message.eml"); // where show, the API and the UI find it
        errored.ErrorMessage!.ShouldStartWith("no route takes this message; the closest, route 'system_report', takes the sender, but the subject 'Systemreport icecream_machine' does not match");
        errored.ErrorMessage!.ShouldContain($"fix routes: in {_project.PipelineFile}, then re-drive load {errored.Id}");
        var unrouted = $"acme/data/unrouted/mail/20230113_120000_{Sha(message)[..8]}/message.eml";
        var store = runtime.StoreFor(runtime.Pipeline("mail"));
        (await ReadAsync(store, Areas.Inbox, unrouted)).ShouldBe(message);
        (await ReadAsync(store, Areas.Error, unrouted)).ShouldBe(message);

        // The operator fixes the subject pattern and re-drives the load.
        _project.WritePipeline(MailProject.SystemReportRoute.Replace("^System report of ", "^System ?report (of )?", StringComparison.Ordinal));
        _project.Clock.Advance(TimeSpan.FromHours(1));
        var fixedRuntime = await _project.OpenAsync();
        (await fixedRuntime.Actions.RedriveAsync(errored, default)).Done.ShouldBeTrue();
        await MailProject.DrainAsync(fixedRuntime);

        var archived = (await fixedRuntime.Catalog.GetLoadAsync(errored.Id, default))!;
        archived.Status.ShouldBe(LoadStatus.Archived);
        var routed = Folder + Sha(message)[..8] + "/message.eml"; // the receive time, not the re-drive's
        archived.InboxKey.ShouldBe(routed);
        (await ReadAsync(store, Areas.Archive, routed)).ShouldBe(message);
        (await ReadAsync(store, Areas.Inbox, unrouted)).ShouldBe(message); // the inbox is never modified
        var steps = await fixedRuntime.Catalog.GetStepsAsync(errored.Id, default);
        steps.Select(s => (s.Step, s.Outcome)).ShouldBe([
            ("receive", StepOutcome.Succeeded), ("route", StepOutcome.Failed), ("error", StepOutcome.Succeeded),
            ("route", StepOutcome.Succeeded), ("archive", StepOutcome.Succeeded)]);
        steps[1].ErrorKind.ShouldBe(ErrorKind.Config);
        steps[3].Message!.ShouldEndWith($"(copied from {unrouted})");
    }

    [MailFact]
    public async Task Worker_Archive_KeepsTheExtractedPartsBesideTheMessage()
    {
        var runtime = await _project.OpenAsync();
        var message = MailProject.Message();
        var receipt = await MailProject.ReceiveAsync(new MailReceiver(runtime), message);
        var worker = new Worker(runtime) { CarriesOnToArchive = false }; // stops between the stages, for the parts to be put in
        (await worker.RunOneAsync(null, default))!.Status.ShouldBe(LoadStatus.ReadyForArchiving); // receive and route

        // What the extract step leaves in the load's work folder.
        var load = (await runtime.Catalog.GetLoadAsync(receipt.LoadId!.Value, default))!;
        var work = runtime.WorkStoreFor(runtime.Pipeline("mail"));
        await work.PutAsync(Areas.Work, MailLayout.PartsPrefix(load) + "body.txt", new MemoryStream("Capacity: 42%\n"u8.ToArray()), default);
        await work.PutAsync(Areas.Work, MailLayout.PartsPrefix(load) + "attachments/report.csv", new MemoryStream("grid,used\nicecream_machine,42\n"u8.ToArray()), default);
        (await worker.RunOneAsync(null, default))!.Status.ShouldBe(LoadStatus.Archived);

        var folder = Folder + Sha(message)[..8];
        var archive = await KeysAsync(runtime.StoreFor(runtime.Pipeline("mail")), Areas.Archive);
        archive.Order(StringComparer.Ordinal).ShouldBe([$"{folder}/attachments/report.csv", $"{folder}/body.txt", $"{folder}/message.eml"]);
        (await runtime.Catalog.GetStepsAsync(load.Id, default))[^1].Message.ShouldBe("the message and 2 parts");
        (await KeysAsync(work, Areas.Work)).ShouldBeEmpty(); // the work area is cleared once archived
    }

    /// <summary>The real catalog, unreachable when the load is registered: the receiver dies right after the inbox write.</summary>
    private sealed class UnreachableOnRegister(ICatalog inner) : ForwardingCatalog(inner)
    {
        public override Task<RegisterResult> RegisterLoadAsync(NewLoad load, CancellationToken cancellationToken) =>
            throw IntakeException.Transient("the catalog is unreachable (connection refused)");

    }
}

/// <summary>
/// An arrival's JSON is a file in the store that outlives the version that wrote it: a retry after an upgrade must find
/// the arrival the previous version wrote (snake_case keys, nulls left out), and the file this version writes keeps those keys.
/// </summary>
public sealed class MailArrivalFormatTests
{
    private const string Written = """{"sha256":"ab12","size":42,"inbox_key":"acme/x/y/z/20230113_120000_ab12/message.eml","received_at":"2023-01-13T12:00:00+00:00","recipients":["reports@hview.example"],"client":"pipe","message_id":"r1@hydrastor.example"}""";

    [Fact]
    public async Task Arrival_WrittenByAnEarlierVersion_IsFound_AndTheSameArrivalIsWrittenWithTheSameKeys()
    {
        await using var project = new MailProject();
        var runtime = await project.OpenAsync();
        var store = runtime.StoreFor(runtime.Pipeline("mail"));
        await store.PutAsync(MailArrivals.Area, MailArrivals.Key("mail", "ab12"), new MemoryStream(Encoding.UTF8.GetBytes(Written)), default);

        var found = (await MailArrivals.FindAsync(store, "mail", "ab12", default)).ShouldNotBeNull();

        found.ShouldBe(new MailArrival("ab12", 42, "acme/x/y/z/20230113_120000_ab12/message.eml", new DateTimeOffset(2023, 1, 13, 12, 0, 0, TimeSpan.Zero),
            null, found.Recipients, "pipe", "r1@hydrastor.example"));
        found.Recipients.ShouldBe(["reports@hview.example"]);
        found.CopySha256.ShouldBe("ab12");

        await MailArrivals.WriteAsync(store, "mail", found, default);
        await using var again = await store.OpenReadAsync(MailArrivals.Area, MailArrivals.Key("mail", "ab12"), default);
        (await new StreamReader(again).ReadToEndAsync()).ShouldBe(Written);
    }
}
