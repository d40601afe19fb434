// The Key Vault holding the key that encrypts upstream credentials at rest (FEED_CREDENTIALS_KEY, and the
// decrypt-only FEED_CREDENTIALS_OLD_KEYS during a rotation). The template creates the vault, never a secret:
// the operator puts the key in (infra/README.md), so no secret is a template parameter or in a deployment's
// history. Access is by Azure RBAC only (no access policies): the app's identity may read secrets, the
// optional developer principal may set them (rbac.bicep).

@description('Name of the vault (3-24 characters, globally unique).')
param name string

@description('Azure region.')
param location string

@description('Tags for the resource.')
param tags object = {}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    // A deleted secret or vault stays recoverable for 90 days, and nobody can purge it sooner: losing the key
    // would make every stored upstream credential unreadable. (Purge protection cannot be turned off again.)
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    // The app (Flex Consumption without a virtual network) resolves its Key Vault references over the public
    // endpoint; RBAC decides who may read.
    publicNetworkAccess: 'Enabled'
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
