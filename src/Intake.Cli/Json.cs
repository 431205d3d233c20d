using System.Text.Json;
using System.Text.Json.Serialization;
using Intake.Core.Errors;
using Intake.Core.Model;

namespace Intake.Cli;

/// <summary>The shapes --json prints: stable snake_case names, statuses and kinds as the catalog words.</summary>
internal static class Json
{
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        WriteIndented = false,
    };

    public static void Write(object value) => Console.Out.WriteLine(JsonSerializer.Serialize(value, Options));

    public static object Load(Load l) => new
    {
        id = l.Id,
        pipeline = l.Pipeline,
        customer = l.Customer,
        source_key = l.SourceKey,
        table = l.Table,
        fingerprint = l.Fingerprint,
        source_size = l.SourceSize,
        source_modified = l.SourceModified,
        status = l.Status.ToWord(),
        held_reason = l.HeldReason,
        attempts = l.Attempts,
        error_kind = l.ErrorKind?.ToWord(),
        error_message = l.ErrorMessage,
        error_code = l.ErrorCode,
        inbox_key = l.InboxKey,
        lease_owner = l.LeaseOwner,
        created_at = l.CreatedAt,
        updated_at = l.UpdatedAt,
    };

    public static object Step(StepRecord s) => new
    {
        id = s.Id,
        step = s.Step,
        attempt = s.Attempt,
        outcome = s.Outcome.ToWord(),
        started_at = s.StartedAt,
        finished_at = s.FinishedAt,
        error_kind = s.ErrorKind?.ToWord(),
        message = s.Message,
        error_code = s.ErrorCode,
        rows_in = s.RowsIn,
        rows_out = s.RowsOut,
        rows_rejected = s.RowsRejected,
        bytes_in = s.BytesIn,
        bytes_out = s.BytesOut,
        outputs = s.Outputs,
        worker = s.Worker,
    };
}
