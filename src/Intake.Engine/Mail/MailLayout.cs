using System.Globalization;
using Intake.Core.Model;
using Intake.Engine.Configuration;
using Intake.Engine.Steps;

namespace Intake.Engine.Mail;

/// <summary>
/// Where a message and its parts sit in the pipeline's store, as the HView design lays them out: the same
/// <c>&lt;customer&gt;/&lt;category&gt;/&lt;type&gt;/&lt;group&gt;/&lt;received&gt;/</c> folder in <c>inbox</c> (the message as received, never
/// modified) and <c>archive</c> (the message and its extracted parts once the load is done).
/// </summary>
/// <remarks>
/// The receive-time folder is <c>yyyyMMdd_HHmmss</c> in UTC followed by the first 8 hex digits of the message's SHA-256
/// (<c>20230113_120000_3f9a0c1e</c>): two messages of one route in the same second get folders of their own, and a
/// message delivered again (Postfix retrying) finds the folder it was given the first time, so its copy is never written
/// twice. A message no route takes is kept under <c>&lt;pipeline customer&gt;/&lt;pipeline category&gt;/unrouted/&lt;pipeline&gt;/</c>;
/// once routed (after a re-drive) it is copied to its route's folder, and archived there.
/// </remarks>
public static class MailLayout
{
    /// <summary>The original's name in its folder.</summary>
    public const string MessageName = "message.eml";

    /// <summary>The type folder of a message no route takes.</summary>
    public const string Unrouted = "unrouted";

    /// <summary>The folder of a routed message.</summary>
    public static string Folder(MailTargets targets, DateTimeOffset received, string sha256)
    {
        ArgumentNullException.ThrowIfNull(targets);
        return $"{targets.Customer}/{targets.Category}/{targets.Type}/{targets.Group}/{Stamp(received, sha256)}";
    }

    /// <summary>The folder of a message that no route of <paramref name="pipeline"/> takes (yet).</summary>
    public static string UnroutedFolder(PipelineConfig pipeline, DateTimeOffset received, string sha256)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        return $"{MailTemplate.Segment(pipeline.Customer)}/{MailTemplate.Segment(pipeline.Category)}/{Unrouted}/{MailTemplate.Segment(pipeline.Name)}/{Stamp(received, sha256)}";
    }

    /// <summary>The folder of a message as routing decided it.</summary>
    public static string Folder(MailDecision decision, DateTimeOffset received, string sha256) =>
        decision.Targets is { } t ? Folder(t, received, sha256) : UnroutedFolder(decision.Pipeline, received, sha256);

    /// <summary>The original's key in a folder.</summary>
    public static string MessageKey(string folder) => folder + "/" + MessageName;

    /// <summary>The folder of an original's key.</summary>
    public static string FolderOf(string messageKey) =>
        messageKey.EndsWith("/" + MessageName, StringComparison.Ordinal) ? messageKey[..^(MessageName.Length + 1)] : messageKey;

    /// <summary>Where the <c>extract</c> step writes a load's parts in the work area (the spec's <c>tmp</c>); cleared when the load ends.</summary>
    public static string PartsPrefix(Load load) => Keys.WorkPrefix(load);

    private static string Stamp(DateTimeOffset received, string sha256) =>
        received.UtcDateTime.ToString("yyyyMMdd_HHmmss", CultureInfo.InvariantCulture) + "_" + sha256[..8];
}
