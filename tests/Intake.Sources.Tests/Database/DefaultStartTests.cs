using Intake.Sources.Database;

namespace Intake.Sources.Tests.Database;

/// <summary>Where the first window of a partition without a watermark starts, for each form of <c>default_start</c>.</summary>
public sealed class DefaultStartTests
{
    private static readonly DateTimeOffset RequestedAt = new(2026, 3, 10, 14, 30, 0, TimeSpan.FromHours(2));

    [Fact]
    public void Yesterday_IsTheStartOfThePreviousUtcDay()
    {
        DefaultStart.Yesterday.Resolve(RequestedAt).ShouldBe(new DateTimeOffset(2026, 3, 9, 0, 0, 0, TimeSpan.Zero));
    }

    [Fact]
    public void Today_IsTheStartOfTheRequestsUtcDay()
    {
        DefaultStart.Today.Resolve(RequestedAt).ShouldBe(new DateTimeOffset(2026, 3, 10, 0, 0, 0, TimeSpan.Zero));
    }

    [Fact]
    public void ATime_IsThatTime_WhateverTheRequest()
    {
        var at = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero);

        DefaultStart.At("2024-01-01T00:00:00Z", at).Resolve(RequestedAt).ShouldBe(at);
    }

    [Fact]
    public void ADuration_CountsBackFromTheRequest_NotFromNow()
    {
        var start = DefaultStart.Before("7d", TimeSpan.FromDays(7)).Resolve(RequestedAt);

        start.ShouldBe(RequestedAt - TimeSpan.FromDays(7));
        start.Offset.ShouldBe(TimeSpan.Zero);
    }
}
