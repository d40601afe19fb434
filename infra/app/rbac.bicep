// Every role assignment of the deployment, in one place. Each is named guid(scope, principal, role), so a
// re-deployment finds the same assignment instead of failing with RoleAssignmentExists.

@description('Storage account the data roles are scoped to.')
param storageAccountName string

@description('Application Insights component the app publishes telemetry to.')
param applicationInsightsName string

@description('Key Vault holding the credentials key.')
param keyVaultName string

@description('Principal (object) id of the function app\'s user-assigned managed identity.')
param identityPrincipalId string

@description('Optional principal id of a developer who gets the same storage data roles (for the CLI, tests).')
param developerPrincipalId string = ''

@description('Kind of the developer principal.')
@allowed(['User', 'ServicePrincipal', 'Group'])
param developerPrincipalType string = 'User'

// The storage data roles, one list for the app's identity and the developer. Built-in role definition ids:
var storageDataRoleIds = [
  // Storage Blob Data Owner: the Functions host (AzureWebJobsStorage: container creation, timer and host
  // leases), the Flex Consumption deployment container, and the app's package content (put-if-absent
  // uploads, user delegation keys for download SAS URLs; storage.bicep creates the container). It is
  // Microsoft's documented role for identity-based host storage. Over Blob Data Contributor it adds blob index
  // tags and ownership / ACL management (meaningful only with a hierarchical namespace, which this account
  // does not have); nothing here uses either.
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  // Storage Table Data Contributor: the feed's metadata tables (storage.bicep creates them), and the
  // Functions host's diagnostic events table.
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  // Not granted: Storage Queue Data Contributor (974c5e8b-45b9-4653-ba55-5f855dd0fb88). Microsoft's role
  // table for host storage ("Connecting to host storage with an identity", Azure Functions developer guide)
  // asks for queues only with the blob trigger (poison blobs) and Durable Functions; the host and timer
  // triggers need Blob Data Owner alone. This app has HTTP and timer triggers only, so function.bicep sets
  // no AzureWebJobsStorage__queueServiceUri either. Add both if a queue-backed trigger is ever added.
]

// The developer gets the same list, or nothing when no principal id is given. (A filtered loop,
// `[for ...: if (...) {...}]`, would say the same, but pycep-parser 0.7.1 cannot parse `if (` inside a loop.)
var developerStorageRoleIds = empty(developerPrincipalId) ? [] : storageDataRoleIds

// Monitoring Metrics Publisher: send telemetry to Application Insights, whose local auth is disabled.
var metricsPublisherRoleId = '3913510d-42f4-4e42-8a64-420c390055eb'

// Key Vault Secrets User: read secret values, which is what resolving a Key Vault reference needs (the app's
// identity; FEED_CREDENTIALS_KEY and FEED_CREDENTIALS_OLD_KEYS).
var keyVaultSecretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'
// Key Vault Secrets Officer: create and update secrets (the developer, who puts the credentials key in the
// vault and rotates it; with RBAC authorization even a subscription owner needs a data role for that).
var keyVaultSecretsOfficerRoleId = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource identityStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in storageDataRoleIds: {
    name: guid(storageAccount.id, identityPrincipalId, roleId)
    scope: storageAccount
    properties: {
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    }
  }
]

resource developerStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in developerStorageRoleIds: {
    name: guid(storageAccount.id, developerPrincipalId, roleId)
    scope: storageAccount
    properties: {
      principalId: developerPrincipalId
      principalType: developerPrincipalType
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    }
  }
]

resource identityMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, identityPrincipalId, metricsPublisherRoleId)
  scope: applicationInsights
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', metricsPublisherRoleId)
  }
}

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource identitySecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, identityPrincipalId, keyVaultSecretsUserRoleId)
  scope: keyVault
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRoleId)
  }
}

resource developerSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(developerPrincipalId)) {
  name: guid(keyVault.id, developerPrincipalId, keyVaultSecretsOfficerRoleId)
  scope: keyVault
  properties: {
    principalId: developerPrincipalId
    principalType: developerPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficerRoleId)
  }
}
