using System.Security.Cryptography;
using System.Text;
using Intake.Engine.Mail;

namespace Intake.Engine.Tests.Mail;

/// <summary>The fingerprint leaves out the trace fields at a message's top, and only those, whatever the chunks the bytes arrive in.</summary>
public sealed class MailFingerprintTests
{
    private const string Body = "From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n";

    private static string Sha(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(text)));

    [Theory]
    [InlineData("Received: from x by y; Fri, 13 Jan 2023 12:00:00 +0000\r\n")]
    [InlineData("Return-Path: <a@example.com>\r\nDelivered-To: r@example.com\r\nX-Original-To: r@example.com\r\nReceived: from x\r\n\tby y with ESMTP id 4Nx1aB\r\n  for <r@example.com>; Fri, 13 Jan 2023 12:00:00 +0000\r\n")]
    [InlineData("received : from x\nRETURN-PATH: <>\n")]
    public void Of_LeadingTraceFields_AreLeftOut(string trace) =>
        MailFingerprint.Of(Encoding.ASCII.GetBytes(trace + Body)).ShouldBe(Sha(Body));

    [Theory]
    [InlineData("X-Mailer: m\r\nReceived: from x\r\n" + Body)] // a trace field below another field counts
    [InlineData("Received-SPF: pass\r\n" + Body)] // not a trace field, though it starts like one
    [InlineData(" Received: from x\r\n" + Body)] // a folded line with nothing before it is not a field
    [InlineData("\r\n" + Body)]
    [InlineData("Receiv")]
    [InlineData("")]
    public void Of_AnythingElse_IsTheSha256OfEveryByte(string message) =>
        MailFingerprint.Of(Encoding.ASCII.GetBytes(message)).ShouldBe(Sha(message));

    [Fact]
    public void Append_InChunksOfAnySize_GivesTheSameFingerprint()
    {
        var message = Encoding.ASCII.GetBytes("Return-Path: <a@example.com>\r\nReceived: from x\r\n\tby y\r\n" + Body);
        for (var chunk = 1; chunk <= message.Length; chunk++)
        {
            using var fingerprint = new MailFingerprint();
            for (var at = 0; at < message.Length; at += chunk)
            {
                fingerprint.Append(message.AsSpan(at, Math.Min(chunk, message.Length - at)));
            }

            fingerprint.Finish().ShouldBe(Sha(Body), $"chunks of {chunk} bytes");
        }
    }
}
