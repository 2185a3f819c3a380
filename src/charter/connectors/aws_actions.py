"""A catalogue of named IAM actions, to expand wildcards into the actions they stand for.

``s3:Get*`` in a policy means every S3 action starting with ``Get``; to say what
a principal can actually do, the connector expands patterns against this list
united with every action the export's own policies name literally. A pattern
whose service is unknown here stays as written (``textract:*``), so nothing is
silently dropped. Names follow the AWS Service Authorization Reference.
"""

from __future__ import annotations

_CATALOGUE = {
    "s3": "GetObject PutObject DeleteObject ListBucket GetBucketPolicy PutBucketPolicy "
    "DeleteBucket CreateBucket GetObjectAcl PutObjectAcl GetBucketAcl PutBucketAcl "
    "ListAllMyBuckets GetBucketLocation GetObjectVersion DeleteObjectVersion "
    "PutBucketPublicAccessBlock GetEncryptionConfiguration PutEncryptionConfiguration "
    "ListBucketVersions GetObjectTagging PutObjectTagging RestoreObject PutLifecycleConfiguration",
    "iam": "CreateUser DeleteUser CreateRole DeleteRole AttachRolePolicy DetachRolePolicy "
    "AttachUserPolicy DetachUserPolicy PutRolePolicy PutUserPolicy DeleteRolePolicy "
    "CreateAccessKey DeleteAccessKey UpdateAccessKey ListAccessKeys PassRole GetRole GetUser "
    "ListRoles ListUsers ListPolicies GetPolicy GetPolicyVersion CreatePolicy CreatePolicyVersion "
    "DeletePolicy UpdateAssumeRolePolicy CreateLoginProfile UpdateLoginProfile "
    "AddUserToGroup RemoveUserFromGroup TagRole TagUser GetAccountAuthorizationDetails "
    "GenerateCredentialReport GetCredentialReport CreateServiceLinkedRole",
    "sts": "AssumeRole AssumeRoleWithWebIdentity AssumeRoleWithSAML GetCallerIdentity "
    "GetSessionToken GetFederationToken TagSession",
    "bedrock": "InvokeModel InvokeModelWithResponseStream InvokeAgent Retrieve RetrieveAndGenerate "
    "ListFoundationModels GetFoundationModel CreateAgent UpdateAgent DeleteAgent GetAgent "
    "ListAgents CreateAgentActionGroup UpdateAgentActionGroup CreateKnowledgeBase "
    "DeleteKnowledgeBase GetKnowledgeBase ListKnowledgeBases CreateModelCustomizationJob "
    "CreateGuardrail GetGuardrail ApplyGuardrail CreateProvisionedModelThroughput "
    "PutModelInvocationLoggingConfiguration Converse ConverseStream",
    "sagemaker": "CreateEndpoint DeleteEndpoint InvokeEndpoint InvokeEndpointAsync CreateModel "
    "DeleteModel CreateTrainingJob DescribeTrainingJob CreateNotebookInstance "
    "CreatePresignedNotebookInstanceUrl ListEndpoints DescribeEndpoint CreateEndpointConfig "
    "CreateProcessingJob ListModels",
    "lambda": "InvokeFunction InvokeFunctionUrl CreateFunction DeleteFunction UpdateFunctionCode "
    "UpdateFunctionConfiguration GetFunction ListFunctions AddPermission RemovePermission "
    "GetPolicy CreateFunctionUrlConfig PublishVersion",
    "dynamodb": "GetItem PutItem UpdateItem DeleteItem Query Scan BatchGetItem BatchWriteItem "
    "DescribeTable ListTables CreateTable DeleteTable UpdateTable ExportTableToPointInTime",
    "secretsmanager": "GetSecretValue PutSecretValue CreateSecret DeleteSecret DescribeSecret "
    "ListSecrets UpdateSecret RotateSecret GetResourcePolicy PutResourcePolicy",
    "kms": "Decrypt Encrypt GenerateDataKey GenerateDataKeyWithoutPlaintext ReEncryptFrom "
    "ReEncryptTo CreateKey DescribeKey ScheduleKeyDeletion DisableKey CreateGrant "
    "PutKeyPolicy ListKeys ListAliases Sign Verify",
    "ssm": "GetParameter GetParameters GetParametersByPath PutParameter DeleteParameter "
    "SendCommand StartSession DescribeParameters",
    "logs": "CreateLogGroup CreateLogStream PutLogEvents GetLogEvents FilterLogEvents "
    "DescribeLogGroups DeleteLogGroup StartQuery",
    "cloudwatch": "PutMetricData GetMetricData ListMetrics PutMetricAlarm DeleteAlarms",
    "ec2": "DescribeInstances RunInstances TerminateInstances StartInstances StopInstances "
    "CreateSecurityGroup AuthorizeSecurityGroupIngress DescribeSecurityGroups CreateSnapshot "
    "DescribeVpcs CreateNetworkInterface DeleteNetworkInterface DescribeNetworkInterfaces "
    "ModifyInstanceAttribute GetPasswordData",
    "sqs": "SendMessage ReceiveMessage DeleteMessage GetQueueUrl GetQueueAttributes CreateQueue "
    "DeleteQueue PurgeQueue ListQueues",
    "sns": "Publish Subscribe CreateTopic DeleteTopic ListTopics SetTopicAttributes",
    "ecr": "GetAuthorizationToken BatchGetImage GetDownloadUrlForLayer PutImage "
    "InitiateLayerUpload UploadLayerPart CompleteLayerUpload BatchCheckLayerAvailability "
    "DescribeRepositories CreateRepository DeleteRepository",
    "eks": "DescribeCluster ListClusters CreateCluster DeleteCluster AccessKubernetesApi "
    "UpdateClusterConfig CreateAccessEntry AssociateAccessPolicy",
    "rds": "DescribeDBInstances CreateDBInstance DeleteDBInstance ModifyDBInstance "
    "CreateDBSnapshot RestoreDBInstanceFromDBSnapshot Connect",
    "rds-db": "connect",
    "glue": "GetTable GetTables GetDatabase GetDatabases CreateTable UpdateTable DeleteTable "
    "StartJobRun GetPartitions",
    "athena": "StartQueryExecution GetQueryExecution GetQueryResults StopQueryExecution",
    "kendra": "Query Retrieve BatchPutDocument CreateIndex DescribeIndex",
    "q": "SendMessage StartConversation GetConversation",
    "qbusiness": "ChatSync Chat ListApplications GetApplication",
    "comprehend": "DetectSentiment DetectEntities DetectPiiEntities ClassifyDocument",
    "textract": "AnalyzeDocument DetectDocumentText StartDocumentAnalysis",
    "cloudtrail": "LookupEvents StopLogging DeleteTrail UpdateTrail CreateTrail",
    "organizations": "DescribeOrganization ListAccounts CreateAccount LeaveOrganization",
}

#: Every catalogued action, as ``service:Action``.
CATALOGUE: frozenset[str] = frozenset(
    f"{service}:{action}" for service, actions in _CATALOGUE.items() for action in actions.split()
)
