using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Amazon.Runtime;
using Amazon.S3;
using Intake.Core.Errors;
using Intake.Shared.S3;

namespace Intake.Storage.Tests.S3;

/// <summary>The classification of what the SDK throws, including answers the test server never gives.</summary>
public sealed class S3FailuresTests
{
    private static AmazonS3Exception Service(HttpStatusCode status, string? code) =>
        new("server says no", ErrorType.Sender, code, "request-1", status);

    [Theory]
    [InlineData(HttpStatusCode.Forbidden, "SignatureDoesNotMatch", ErrorKind.Config)]
    [InlineData(HttpStatusCode.Forbidden, "AccessDenied", ErrorKind.Config)]
    [InlineData(HttpStatusCode.Forbidden, null, ErrorKind.Config)]
    [InlineData(HttpStatusCode.BadRequest, "InvalidBucketName", ErrorKind.Config)]
    [InlineData(HttpStatusCode.ServiceUnavailable, "SlowDown", ErrorKind.Transient)]
    [InlineData(HttpStatusCode.ServiceUnavailable, null, ErrorKind.Transient)]
    [InlineData(HttpStatusCode.InternalServerError, "InternalError", ErrorKind.Transient)]
    [InlineData(HttpStatusCode.TooManyRequests, null, ErrorKind.Transient)]
    [InlineData(HttpStatusCode.BadRequest, "RequestTimeout", ErrorKind.Transient)]
    [InlineData(HttpStatusCode.BadRequest, "BadDigest", ErrorKind.Transient)]
    [InlineData(HttpStatusCode.NotFound, "NoSuchUpload", ErrorKind.Transient)]
    public void ServiceErrors_MapToTheKindThatSaysWhetherToRetry(HttpStatusCode status, string? code, ErrorKind expected)
    {
        var mapped = S3Failures.ToIntake(Service(status, code), "store 'x': cannot upload s3://b/k", "b");

        mapped.ShouldNotBeNull();
        mapped.Kind.ShouldBe(expected);
        mapped.Message.ShouldStartWith("store 'x': cannot upload s3://b/k: ");
    }

    [Fact]
    public void NoSuchBucket_IsConfigNamingTheBucket()
    {
        var mapped = S3Failures.ToIntake(Service(HttpStatusCode.NotFound, "NoSuchBucket"), "store 'x': cannot list s3://cold/", "cold");

        mapped!.Kind.ShouldBe(ErrorKind.Config);
        mapped.Message.ShouldContain("bucket 'cold' does not exist");
    }

    [Fact]
    public void NetworkFailures_AreTransientAndSayWhatFailed()
    {
        var refused = new HttpRequestException("Connection refused (127.0.0.1:1)", new SocketException((int)SocketError.ConnectionRefused));
        var timeout = new TaskCanceledException("The request was canceled due to the configured HttpClient.Timeout", new TimeoutException());

        foreach (var failure in new Exception[] { refused, timeout, new IOException("reset") })
        {
            var mapped = S3Failures.ToIntake(failure, "cannot upload", "b");
            mapped!.Kind.ShouldBe(ErrorKind.Transient);
            mapped.Message.ShouldStartWith("cannot upload: ");
        }
    }

    [Fact]
    public void UntrustedCertificate_IsConfigPointingAtCaFile()
    {
        var tls = new HttpRequestException("The SSL connection could not be established", new AuthenticationException("remote certificate is invalid"));

        var mapped = S3Failures.ToIntake(tls, "cannot read", "b");

        mapped!.Kind.ShouldBe(ErrorKind.Config);
        mapped.Message.ShouldContain("ca_file");
    }

    [Fact]
    public void OtherExceptions_AreNotMapped()
    {
        S3Failures.ToIntake(new InvalidOperationException("bug"), "x", "b").ShouldBeNull();
        S3Failures.Classify(new ArgumentException("bug")).ShouldBe(S3Failure.Unknown);
    }
}
