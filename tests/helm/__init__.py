"""Tests of the Helm chart (helm/cpip) and the Dockerfile."""
