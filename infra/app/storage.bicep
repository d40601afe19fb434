// One StorageV2 account for everything: the feed's tables and package content, the Functions host's own
// blobs (timer leases, host locks) and the Flex Consumption deployment package. Keys are off: every caller
// (the app's managed identity, the Functions host, azd, a developer) authenticates with Microsoft Entra ID.
// The deployment creates every table and container the feed uses, so the app never creates one (it runs with
// creation off; a request never pays for a create call).

@description('Name of the storage account (3-24 lower-case letters and digits, globally unique).')
param name string

@description('Azure region.')
param location string

@description('Tags for the resources.')
param tags object = {}

@description('Blob container for package content; the app reads its name from FEED_BLOB_CONTAINER.')
param contentContainerName string

@description('Blob container the Flex Consumption plan deploys the app package from.')
param deploymentContainerName string

@description('Prefix of the feed\'s table names; the app reads it from FEED_TABLE_PREFIX.')
param tablePrefix string

// The feed's tables by logical name: feed_core/storage/layout.py ALL_TABLES, in that order (tests/infra checks
// both lists match). Each is created as tablePrefix + name, the name the app's Azure backend uses.
var feedTables = [
  'orgs'
  'feeds'
  'tokens'
  'tokenlist'
  'tokenkids'
  'packages'
  'packageindex'
  'packageids'
  'upstreammeta'
  'upstreaming'
  'upstreamhealth'
  'jobstate'
  'uisessions'
  'feedusage'
  'upackchunks'
  'downloads'
]

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false // no account keys, no connection strings, no account-key SAS
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled' // Flex Consumption without a virtual network reaches storage publicly
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storageAccount
  name: 'default'
  properties: {
    // Versions are immutable in the feed; a week of soft delete undoes an operator's mistake.
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

// The package content container (FEED_BLOB_CONTAINER) and the deployment package's.
resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for containerName in [contentContainerName, deploymentContainerName]: {
    parent: blobService
    name: containerName
    properties: {
      publicAccess: 'None'
    }
  }
]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storageAccount
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for table in feedTables: {
    parent: tableService
    name: '${tablePrefix}${table}'
  }
]

output id string = storageAccount.id
output name string = storageAccount.name
output blobEndpoint string = storageAccount.properties.primaryEndpoints.blob
output tableEndpoint string = storageAccount.properties.primaryEndpoints.table
