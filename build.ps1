#!/usr/bin/env pwsh
<#
.SYNOPSIS
  Vgg.Engine build script: restore, build, test, bench, pack, publish-gpu.
.EXAMPLE
  dotnet tool restore; dotnet pwsh ./build.ps1 test
#>
param(
    [Parameter(Position = 0)]
    [ValidateSet('restore', 'build', 'test', 'bench', 'pack', 'publish-gpu')]
    [string]$Target = 'build',
    [string]$Configuration = 'Release',
    # Extra arguments for `dotnet test --filter` (NUnit category or name filter).
    [string]$Filter = '',
    # Extra arguments passed to `vgg bench`.
    [string[]]$BenchArgs = @()
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$root = $PSScriptRoot
$sln = Join-Path $root 'Vgg.Engine.sln'
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'

function Invoke-Dotnet([string[]]$argv) {
    Write-Host "> dotnet $($argv -join ' ')"
    & dotnet @argv
    if ($LASTEXITCODE -ne 0) { throw "dotnet $($argv[0]) failed with exit code $LASTEXITCODE" }
}

function Restore { Invoke-Dotnet @('restore', $sln) }
function Build { Restore; Invoke-Dotnet @('build', $sln, '-c', $Configuration, '--no-restore', '-nologo') }

# Counts outcomes from the TRX files of this run and prints "N passed, N failed, N skipped" alone on a line.
function Write-TestSummary([string]$resultsDir) {
    $passed = 0; $failed = 0; $skipped = 0
    foreach ($trx in Get-ChildItem -Path $resultsDir -Filter *.trx -Recurse) {
        [xml]$doc = Get-Content -Raw $trx.FullName
        $ns = @{ t = 'http://microsoft.com/schemas/VisualStudio/TeamTest/2010' }
        foreach ($r in (Select-Xml -Xml $doc -XPath '//t:UnitTestResult' -Namespace $ns)) {
            switch ($r.Node.outcome) {
                'Passed' { $passed++ }
                'Failed' { $failed++ }
                'Error' { $failed++ }
                'Timeout' { $failed++ }
                default { $skipped++ }
            }
        }
    }
    Write-Host ''
    Write-Host "$passed passed, $failed failed, $skipped skipped"
    return $failed
}

function Test {
    Build
    $results = Join-Path $root 'TestResults'
    if (Test-Path $results) { Remove-Item -Recurse -Force $results }
    $argv = @('test', $sln, '-c', $Configuration, '--no-build', '--logger', 'trx', '--logger', 'console;verbosity=normal', '--results-directory', $results)
    if ($Filter) { $argv += @('--filter', $Filter) }
    Write-Host "> dotnet $($argv -join ' ')"
    & dotnet @argv
    $code = $LASTEXITCODE
    $failed = Write-TestSummary $results
    if ($code -ne 0 -or $failed -gt 0) { throw "tests failed (dotnet test exit code $code, $failed failed)" }
}

function Bench {
    Build
    $argv = @('run', '--project', (Join-Path $root 'Cli'), '-c', $Configuration, '--no-build', '--', 'bench') + $BenchArgs
    Invoke-Dotnet $argv
}

function Pack {
    Build
    Invoke-Dotnet @('pack', $sln, '-c', $Configuration, '--no-build', '-o', (Join-Path $root 'artifacts/packages'))
}

# The trimmed self-contained linux-x64 publish for a GPU machine without .NET: vgg-gpu-check (GPU self-test,
# kernel report, benchmark), which Perf/gpu-check.sh runs; carry artifacts/gpu-check-linux-x64 (about 25 MB).
# (The vgg command itself is not published trimmed: its bench and simulator verbs serialize with reflection and
# run BenchmarkDotNet, which trimming would break; on a machine with .NET it runs from the build output.)
function Publish-Gpu {
    $check = Join-Path $root 'artifacts/gpu-check-linux-x64'
    Invoke-Dotnet @('publish', (Join-Path $root 'Perf/GpuCheck/Vgg.GpuCheck.csproj'), '-c', 'Release', '-r', 'linux-x64', '--self-contained', 'true', '-p:PublishTrimmed=true', '-p:DebugType=none', '-p:GenerateDocumentationFile=false', '-o', $check)
    $mb = [math]::Round(((Get-ChildItem -Recurse -File $check | Measure-Object -Sum Length).Sum) / 1MB, 1)
    Write-Host "gpu-check publish: $check ($mb MiB)"
}

switch ($Target) {
    'restore' { Restore }
    'build' { Build }
    'test' { Test }
    'bench' { Bench }
    'pack' { Pack }
    'publish-gpu' { Publish-Gpu }
}
