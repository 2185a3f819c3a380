#!/usr/bin/env bash
# Nightly backup to S3. FAKE DEMO credentials below.
export AWS_ACCESS_KEY_ID=AKIAFAKEDEMOOMDAO2FM
export AWS_SECRET_ACCESS_KEY=FAKEdemo/xspHDn/Ka7/WxYmhGAl9ZA2PT38zEt7
aws s3 sync ./data s3://acme-support-backups/
